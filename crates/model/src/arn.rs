//! Function names in every form Lambda accepts (name, `name:qualifier`, partial ARN, full ARN) and
//! the ARNs Nimbus writes.

use std::sync::OnceLock;

use regex_lite::Regex;

use crate::error::{ErrorCode, LambdaError};

/// AWS compat: the `FunctionName` shape's pattern (CreateFunction, UpdateFunction*), quoted in
/// validation messages exactly as the botocore model has it.
pub const FUNCTION_NAME_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?";

/// AWS compat: the `NamespacedFunctionName` shape's pattern (GetFunction, DeleteFunction, Invoke).
pub const NAMESPACED_FUNCTION_NAME_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:|(((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?))(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?";

/// AWS compat: the `TaggableResource` pattern, restricted to the resource kinds Nimbus has.
pub const TAGGABLE_RESOURCE_PATTERN: &str = r"arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|(capacity-provider|network-connector):[a-zA-Z0-9-_]{1,64})";

/// The longest bare function name.
pub const MAX_FUNCTION_NAME_LEN: usize = 64;

const REGION: &str = r"(?:eusc-)?[a-z]{2}(?:(?:-gov)|(?:-iso(?:[a-z]?)))?-[a-z]+-\d";

/// Which model shape a function name is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameShape {
    /// `FunctionName`: at most 140 characters, no `.` in the name.
    Create,
    /// `NamespacedFunctionName`: at most 256 characters.
    Namespaced,
}

impl NameShape {
    fn max_len(self) -> usize {
        match self {
            Self::Create => 140,
            Self::Namespaced => 256,
        }
    }

    fn aws_pattern(self) -> &'static str {
        match self {
            Self::Create => FUNCTION_NAME_PATTERN,
            Self::Namespaced => NAMESPACED_FUNCTION_NAME_PATTERN,
        }
    }

    fn regex(self) -> &'static Regex {
        static CREATE: OnceLock<Regex> = OnceLock::new();
        static NAMESPACED: OnceLock<Regex> = OnceLock::new();
        // Our own equivalents of the model patterns, anchored and with named groups.
        match self {
            Self::Create => CREATE.get_or_init(|| {
                compile(&format!(
                    r"^(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?(?:(?P<region>{REGION}):)?(?:(?P<account>\d{{12}}):)?(?:function:)?(?P<name>[a-zA-Z0-9\-_]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9\-_]+))?$"
                ))
            }),
            Self::Namespaced => NAMESPACED.get_or_init(|| {
                compile(&format!(
                    r"^(?:arn:(?:aws[a-zA-Z-]*)?:lambda:(?P<aregion>{REGION}):(?P<aaccount>\d{{12}}):|(?:(?:(?P<region>{REGION}):)?(?:(?P<account>\d{{12}}):)?))(?:function:)?(?P<name>[a-zA-Z0-9\-_\.]+)(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9\-_]+))?$"
                ))
            }),
        }
    }
}

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("function name patterns are constant and valid")
}

/// A reference to a function as a caller wrote it, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// The bare function name.
    pub name: String,
    /// `$LATEST`, a version number or an alias, if the name carried one.
    pub qualifier: Option<String>,
    /// The region of an ARN form.
    pub region: Option<String>,
    /// The account of an ARN form.
    pub account: Option<String>,
}

impl FunctionRef {
    /// Parses `input` (already percent-decoded) as the model shape `shape` would accept it.
    pub fn parse(input: &str, shape: NameShape) -> Result<Self, LambdaError> {
        let len = input.chars().count();
        if len > shape.max_len() {
            return Err(LambdaError::validation(format!(
                "1 validation error detected: Value '{input}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to {}",
                shape.max_len()
            )));
        }
        let caps = shape.regex().captures(input).ok_or_else(|| {
            let what = if input.is_empty() {
                "Member must have length greater than or equal to 1".to_string()
            } else {
                format!(
                    "Member must satisfy regular expression pattern: {}",
                    shape.aws_pattern()
                )
            };
            LambdaError::validation(format!(
                "1 validation error detected: Value '{input}' at 'functionName' failed to satisfy constraint: {what}"
            ))
        })?;
        let group = |n: &str| caps.name(n).map(|m| m.as_str().to_string());
        let name = group("name").unwrap_or_default();
        if name.chars().count() > MAX_FUNCTION_NAME_LEN {
            // AWS compat: over-long bare names are InvalidParameterValueException, not
            // ValidationException (recorded, spec §5b #10).
            return Err(LambdaError::invalid_parameter(format!(
                "1 validation error detected: Value '{input}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to {MAX_FUNCTION_NAME_LEN}"
            )));
        }
        Ok(Self {
            name,
            qualifier: group("qualifier"),
            region: group("aregion").or_else(|| group("region")),
            account: group("aaccount").or_else(|| group("account")),
        })
    }

    /// Checks that an ARN form points into this region and account.
    pub fn check_scope(&self, region: &str, account: &str) -> Result<(), LambdaError> {
        if let Some(r) = &self.region {
            if r != region {
                return Err(LambdaError::not_found(format!(
                    "Functions from '{r}' are not reachable in this region ('{region}')"
                )));
            }
        }
        if let Some(a) = &self.account {
            if a != account {
                return Err(LambdaError::new(ErrorCode::AccessDenied, ""));
            }
        }
        Ok(())
    }

    /// Merges the `Qualifier` query parameter into the qualifier carried by the name.
    pub fn with_qualifier(mut self, query: Option<&str>) -> Result<Self, LambdaError> {
        if let Some(q) = query {
            validate_qualifier(q)?;
        }
        match (self.qualifier.as_deref(), query) {
            (Some(a), Some(b)) if a != b => Err(LambdaError::invalid_parameter(
                "The derived qualifier from the function name does not match the specified qualifier.",
            )),
            (None, Some(b)) => {
                self.qualifier = Some(b.to_string());
                Ok(self)
            }
            _ => Ok(self),
        }
    }
}

/// AWS compat: the `Qualifier` member's constraints, in AWS's words.
fn validate_qualifier(q: &str) -> Result<(), LambdaError> {
    let fail = |what: &str| {
        LambdaError::validation(format!(
            "1 validation error detected: Value '{q}' at 'qualifier' failed to satisfy constraint: {what}"
        ))
    };
    if q.chars().count() > 128 {
        return Err(fail("Member must have length less than or equal to 128"));
    }
    if !q
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'$' || b == b'_' || b == b'-')
    {
        return Err(fail(
            "Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)",
        ));
    }
    Ok(())
}

/// `arn:aws:lambda:<region>:<account>:function:<name>`.
pub fn function_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:function:{name}")
}

/// A taggable resource named by its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceArn {
    /// The function's region.
    pub region: String,
    /// The function's account.
    pub account: String,
    /// The bare function name.
    pub function: String,
}

impl ResourceArn {
    /// Parses the `Resource` of TagResource/UntagResource/ListTags. Only function ARNs name
    /// resources Nimbus has; other kinds valid in the model are reported as not found.
    pub fn parse(input: &str) -> Result<Self, LambdaError> {
        static RE: OnceLock<Regex> = OnceLock::new();
        let re = RE.get_or_init(|| {
            compile(&format!(
                r"^arn:(?:aws[a-zA-Z-]*):lambda:(?P<region>{REGION}):(?P<account>\d{{12}}):(?:function:(?P<name>[a-zA-Z0-9\-_]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9\-_]+))?|(?P<other>code-signing-config:csc-[a-z0-9]{{17}}|event-source-mapping:[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}}|(?:capacity-provider|network-connector):[a-zA-Z0-9\-_]{{1,64}}))$"
            ))
        });
        let caps = re.captures(input).ok_or_else(|| {
            LambdaError::validation(format!(
                "1 validation error detected: Value '{input}' at 'resource' failed to satisfy constraint: Member must satisfy regular expression pattern: {TAGGABLE_RESOURCE_PATTERN}"
            ))
        })?;
        if caps.name("other").is_some() {
            return Err(LambdaError::not_found(
                "The resource you requested does not exist.",
            ));
        }
        if caps.name("qualifier").is_some() {
            return Err(LambdaError::invalid_parameter(
                "Tags on function aliases and versions are not supported. Please specify a function ARN.",
            ));
        }
        let get = |n: &str| {
            caps.name(n)
                .map(|m| m.as_str().to_string())
                .unwrap_or_default()
        };
        Ok(Self {
            region: get("region"),
            account: get("account"),
            function: get("name"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_qualifiers_follow_lambdas_pattern() {
        let r = || FunctionRef::parse("f", NameShape::Namespaced).expect("name");
        assert_eq!(
            r().with_qualifier(Some("live"))
                .expect("ok")
                .qualifier
                .as_deref(),
            Some("live")
        );
        assert!(r().with_qualifier(Some("$LATEST")).is_ok());
        assert_eq!(
            r().with_qualifier(Some("bad!")).expect_err("refused").message,
            "1 validation error detected: Value 'bad!' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"
        );
        assert!(r().with_qualifier(Some(&"a".repeat(129))).is_err());
    }

    fn parse(s: &str) -> FunctionRef {
        FunctionRef::parse(s, NameShape::Namespaced).expect("valid")
    }

    #[test]
    fn every_name_form() {
        assert_eq!(parse("foo").name, "foo");
        assert_eq!(parse("foo").qualifier, None);
        assert_eq!(parse("foo:prod").qualifier.as_deref(), Some("prod"));
        assert_eq!(parse("foo:$LATEST").qualifier.as_deref(), Some("$LATEST"));
        let p = parse("123456789012:function:foo:7");
        assert_eq!(
            (
                p.name.as_str(),
                p.qualifier.as_deref(),
                p.account.as_deref()
            ),
            ("foo", Some("7"), Some("123456789012"))
        );
        let f = parse("arn:aws:lambda:eu-west-1:000000000000:function:my-fn");
        assert_eq!(f.name, "my-fn");
        assert_eq!(f.region.as_deref(), Some("eu-west-1"));
        assert_eq!(f.account.as_deref(), Some("000000000000"));
        assert_eq!(f.qualifier, None);
        let c = FunctionRef::parse(
            "arn:aws:lambda:us-east-1:000000000000:function:x:alias-1",
            NameShape::Create,
        )
        .expect("valid");
        assert_eq!(
            (c.name.as_str(), c.qualifier.as_deref()),
            ("x", Some("alias-1"))
        );
    }

    #[test]
    fn bad_characters_quote_the_model_pattern() {
        let e = FunctionRef::parse("invalid:function:name", NameShape::Create).expect_err("bad");
        assert_eq!(e.code, ErrorCode::Validation);
        assert_eq!(
            e.message,
            format!("1 validation error detected: Value 'invalid:function:name' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}")
        );
        assert!(FunctionRef::parse("a b", NameShape::Namespaced).is_err());
        assert!(FunctionRef::parse("dotted.name", NameShape::Create).is_err());
        assert!(FunctionRef::parse("dotted.name", NameShape::Namespaced).is_ok());
    }

    #[test]
    fn length_limits() {
        let long = "a".repeat(65);
        let e = FunctionRef::parse(&long, NameShape::Create).expect_err("65 chars");
        assert_eq!(e.code, ErrorCode::InvalidParameterValue);
        assert!(e
            .message
            .ends_with("Member must have length less than or equal to 64"));
        let arn = format!(
            "arn:aws:lambda:us-east-1:000000000000:function:{}",
            "b".repeat(100)
        );
        let e = FunctionRef::parse(&arn, NameShape::Create).expect_err("141 chars");
        assert_eq!(e.code, ErrorCode::Validation);
        assert!(e
            .message
            .ends_with("Member must have length less than or equal to 140"));
    }

    #[test]
    fn scope_and_qualifier_rules() {
        let f = parse("arn:aws:lambda:ap-southeast-1:000000000000:function:f");
        let e = f
            .check_scope("us-east-1", "000000000000")
            .expect_err("region");
        assert_eq!(
            e.message,
            "Functions from 'ap-southeast-1' are not reachable in this region ('us-east-1')"
        );
        let e = parse("111111111111:function:f")
            .check_scope("us-east-1", "000000000000")
            .expect_err("account");
        assert_eq!(e.code, ErrorCode::AccessDenied);
        assert!(parse("f:1").with_qualifier(Some("1")).is_ok());
        let e = parse("f:1")
            .with_qualifier(Some("2"))
            .expect_err("mismatch");
        assert_eq!(
            e.message,
            "The derived qualifier from the function name does not match the specified qualifier."
        );
    }

    #[test]
    fn resource_arns() {
        let r = ResourceArn::parse("arn:aws:lambda:us-east-1:000000000000:function:f").expect("ok");
        assert_eq!(r.function, "f");
        let e = ResourceArn::parse("arn:aws:lambda:us-east-1:000000000000:function:f:1")
            .expect_err("qualified");
        assert_eq!(e.code, ErrorCode::InvalidParameterValue);
        let e = ResourceArn::parse("f").expect_err("not an arn");
        assert_eq!(e.code, ErrorCode::Validation);
    }
}
