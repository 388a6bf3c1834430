//! Resource-based policies of functions (AddPermission, RemovePermission, GetPolicy): the
//! statements Lambda writes, rendered byte for byte as it renders them, and its checks.

use serde::{Deserialize, Serialize};

use crate::error::LambdaError;

/// Largest policy document (bytes of its JSON).
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// The body of AddPermission.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct AddPermissionRequest {
    pub statement_id: Option<String>,
    pub action: Option<String>,
    pub principal: Option<String>,
    pub source_arn: Option<String>,
    pub source_account: Option<String>,
    pub event_source_token: Option<String>,
    #[serde(rename = "PrincipalOrgID")]
    pub principal_org_id: Option<String>,
    pub function_url_auth_type: Option<String>,
    pub invoked_via_function_url: Option<bool>,
    pub revision_id: Option<String>,
}

/// A statement, its members in the order Lambda writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct Statement {
    pub sid: String,
    pub effect: String,
    pub principal: serde_json::Value,
    pub action: String,
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
}

/// A statement's conditions, in the order Lambda writes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Condition {
    #[serde(rename = "StringEquals", skip_serializing_if = "Option::is_none")]
    pub string_equals: Option<StringEquals>,
    #[serde(rename = "ArnLike", skip_serializing_if = "Option::is_none")]
    pub arn_like: Option<ArnLike>,
    #[serde(rename = "Bool", skip_serializing_if = "Option::is_none")]
    pub bool: Option<BoolCondition>,
}

/// `StringEquals` members.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct StringEquals {
    #[serde(rename = "AWS:SourceAccount", skip_serializing_if = "Option::is_none")]
    pub source_account: Option<String>,
    #[serde(
        rename = "lambda:EventSourceToken",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_source_token: Option<String>,
    #[serde(rename = "aws:PrincipalOrgID", skip_serializing_if = "Option::is_none")]
    pub principal_org_id: Option<String>,
    #[serde(
        rename = "lambda:FunctionUrlAuthType",
        skip_serializing_if = "Option::is_none"
    )]
    pub function_url_auth_type: Option<String>,
}

/// `ArnLike` members.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ArnLike {
    #[serde(rename = "AWS:SourceArn")]
    pub source_arn: String,
}

/// `Bool` members.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct BoolCondition {
    #[serde(rename = "lambda:InvokedViaFunctionUrl")]
    pub invoked_via_function_url: String,
}

/// A function's (or a version's, an alias's) policy as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Renewed by every change.
    pub revision_id: String,
    /// In the order they were added.
    pub statements: Vec<Statement>,
}

impl Policy {
    /// The document GetPolicy returns (as a string), exactly as Lambda writes it.
    pub fn document(&self) -> String {
        let statements: Vec<String> = self.statements.iter().map(Statement::to_json).collect();
        format!(
            "{{\"Version\":\"2012-10-17\",\"Id\":\"default\",\"Statement\":[{}]}}",
            statements.join(",")
        )
    }
}

impl Statement {
    /// The statement as AddPermission returns it (a string).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a Statement always serializes")
    }
}

fn invalid_member(value: &str, member: &str, pattern: &str) -> LambdaError {
    LambdaError::validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
    ))
}

fn all(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.bytes().all(ok)
}

/// The `Principal` member for `p`, or Lambda's refusal.
fn principal(p: &str) -> Result<serde_json::Value, LambdaError> {
    let invalid = || {
        LambdaError::invalid_parameter(
            "The provided principal was invalid. Please check the principal and try again.",
        )
    };
    if p == "*" {
        return Ok(serde_json::json!("*"));
    }
    if p.len() == 12 && all(p, |b| b.is_ascii_digit()) {
        return Ok(serde_json::json!({ "AWS": format!("arn:aws:iam::{p}:root") }));
    }
    if let Some(rest) = p.strip_prefix("arn:aws:iam::") {
        let (account, who) = rest.split_once(':').ok_or_else(invalid)?;
        let kind_ok = who == "root" || who.starts_with("role/") || who.starts_with("user/");
        if account.len() == 12 && all(account, |b| b.is_ascii_digit()) && kind_ok {
            return Ok(serde_json::json!({ "AWS": p }));
        }
        return Err(invalid());
    }
    // Service principals: `<service>.amazonaws.com` and the like.
    let service = ["amazonaws.com", "amazon.com"].iter().any(|d| {
        p.strip_suffix(d)
            .and_then(|h| h.strip_suffix('.'))
            .is_some_and(|h| {
                all(h, |b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                })
            })
    });
    if service {
        return Ok(serde_json::json!({ "Service": p }));
    }
    Err(invalid())
}

impl AddPermissionRequest {
    /// The statement it adds on `resource` (the ARN as qualified), or the first error.
    pub fn statement(&self, resource: &str) -> Result<Statement, LambdaError> {
        let sid = self
            .statement_id
            .as_deref()
            .ok_or_else(|| LambdaError::required("statementId"))?;
        if sid.len() > 100 {
            return Err(LambdaError::validation(format!(
                "1 validation error detected: Value '{sid}' at 'statementId' failed to satisfy constraint: Member must have length less than or equal to 100"
            )));
        }
        if !all(sid, |b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(invalid_member(sid, "statementId", "([a-zA-Z0-9-_]+)"));
        }
        let action = self
            .action
            .as_deref()
            .ok_or_else(|| LambdaError::required("action"))?;
        let action_ok = action == "*"
            || action == "lambda:*"
            || action
                .strip_prefix("lambda:")
                .is_some_and(|a| all(a, |b| b.is_ascii_alphabetic()));
        if !action_ok {
            return Err(invalid_member(
                action,
                "action",
                "(lambda:[*]|lambda:[a-zA-Z]+|[*])",
            ));
        }
        let p = self
            .principal
            .as_deref()
            .ok_or_else(|| LambdaError::required("principal"))?;
        if p.is_empty() || p.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(invalid_member(p, "principal", "[^\\s]+"));
        }
        let principal = principal(p)?;
        if let Some(a) = &self.source_account {
            if !(a.len() == 12 && all(a, |b| b.is_ascii_digit())) {
                return Err(invalid_member(a, "sourceAccount", "\\d{12}"));
            }
        }
        if let Some(arn) = &self.source_arn {
            if !arn.starts_with("arn:") || arn.split(':').count() < 6 {
                return Err(invalid_member(
                    arn,
                    "sourceArn",
                    "arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}(-gov)?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)",
                ));
            }
        }
        if let Some(t) = &self.event_source_token {
            if t.len() > 256
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                return Err(invalid_member(t, "eventSourceToken", "[a-zA-Z0-9._\\-]+"));
            }
        }
        if let Some(o) = &self.principal_org_id {
            let ok = o.strip_prefix("o-").is_some_and(|r| {
                (10..=32).contains(&r.len())
                    && all(r, |b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
            if !ok {
                return Err(invalid_member(o, "principalOrgID", "^o-[a-z0-9]{10,32}$"));
            }
        }
        if let Some(t) = &self.function_url_auth_type {
            if t != "NONE" && t != "AWS_IAM" {
                return Err(LambdaError::validation(format!(
                    "1 validation error detected: Value '{t}' at 'functionUrlAuthType' failed to satisfy constraint: Member must satisfy enum value set: [NONE, AWS_IAM]"
                )));
            }
        }
        let string_equals = StringEquals {
            source_account: self.source_account.clone(),
            event_source_token: self.event_source_token.clone(),
            principal_org_id: self.principal_org_id.clone(),
            function_url_auth_type: self.function_url_auth_type.clone(),
        };
        let condition = Condition {
            string_equals: (string_equals != StringEquals::default()).then_some(string_equals),
            arn_like: self
                .source_arn
                .clone()
                .map(|source_arn| ArnLike { source_arn }),
            bool: (self.invoked_via_function_url == Some(true)).then(|| BoolCondition {
                invoked_via_function_url: "true".into(),
            }),
        };
        Ok(Statement {
            sid: sid.to_string(),
            effect: "Allow".into(),
            principal,
            action: action.to_string(),
            resource: resource.to_string(),
            condition: (condition != Condition::default()).then_some(condition),
        })
    }
}

/// AWS compat: a stale policy RevisionId.
pub fn stale_policy_revision() -> LambdaError {
    LambdaError::new(
        crate::error::ErrorCode::PreconditionFailed,
        "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(principal: &str) -> AddPermissionRequest {
        AddPermissionRequest {
            statement_id: Some("s3".into()),
            action: Some("lambda:InvokeFunction".into()),
            principal: Some(principal.into()),
            ..Default::default()
        }
    }

    const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:f";

    #[test]
    fn statements_render_as_lambda_writes_them() {
        let mut r = req("s3.amazonaws.com");
        r.source_arn = Some("arn:aws:s3:::bucket".into());
        r.source_account = Some("123456789012".into());
        assert_eq!(
            r.statement(ARN).expect("ok").to_json(),
            r#"{"Sid":"s3","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:000000000000:function:f","Condition":{"StringEquals":{"AWS:SourceAccount":"123456789012"},"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::bucket"}}}"#
        );
        assert_eq!(
            req("123456789012").statement(ARN).expect("ok").principal,
            serde_json::json!({ "AWS": "arn:aws:iam::123456789012:root" })
        );
        let mut url = req("*");
        url.action = Some("lambda:InvokeFunctionUrl".into());
        url.function_url_auth_type = Some("NONE".into());
        assert_eq!(
            url.statement(ARN).expect("ok").to_json(),
            r#"{"Sid":"s3","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunctionUrl","Resource":"arn:aws:lambda:us-east-1:000000000000:function:f","Condition":{"StringEquals":{"lambda:FunctionUrlAuthType":"NONE"}}}"#
        );
        let policy = Policy {
            revision_id: "r".into(),
            statements: vec![req("*").statement(ARN).expect("ok")],
        };
        assert_eq!(
            policy.document(),
            r#"{"Version":"2012-10-17","Id":"default","Statement":[{"Sid":"s3","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:000000000000:function:f"}]}"#
        );
    }

    #[test]
    fn bad_members_are_refused_in_lambdas_words() {
        assert_eq!(
            req("invalid principal").statement(ARN).expect_err("bad").message,
            "1 validation error detected: Value 'invalid principal' at 'principal' failed to satisfy constraint: Member must satisfy regular expression pattern: [^\\s]+"
        );
        assert_eq!(
            req("nobody").statement(ARN).expect_err("bad").message,
            "The provided principal was invalid. Please check the principal and try again."
        );
        let mut r = req("*");
        r.action = Some("s3:GetObject".into());
        assert!(r.statement(ARN).is_err());
        let mut r = req("*");
        r.statement_id = Some("bad id".into());
        assert!(r.statement(ARN).is_err());
        let mut r = req("*");
        r.statement_id = None;
        assert!(r
            .statement(ARN)
            .expect_err("null")
            .message
            .contains("Value null at 'statementId'"));
        let mut r = req("*");
        r.source_account = Some("12".into());
        assert!(r.statement(ARN).is_err());
    }
}
