//! Function URLs (Create/Get/Update/Delete/ListFunctionUrlConfigs): the configuration, its
//! validation with AWS's messages, and the CORS rules the URL front end applies.

use serde::{Deserialize, Serialize};

use crate::error::{LambdaError, ValidationErrors};

/// How callers of a URL authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthType {
    /// Public, when the function's resource policy allows `lambda:InvokeFunctionUrl` to `*`.
    #[serde(rename = "NONE")]
    None,
    /// SigV4-signed requests of this account.
    #[serde(rename = "AWS_IAM")]
    AwsIam,
}

impl AuthType {
    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::AwsIam => "AWS_IAM",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "NONE" => Some(Self::None),
            "AWS_IAM" => Some(Self::AwsIam),
            _ => None,
        }
    }
}

/// How a URL returns the function's response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum InvokeMode {
    /// The whole response at once (the default).
    #[default]
    #[serde(rename = "BUFFERED")]
    Buffered,
    /// As the function writes it.
    #[serde(rename = "RESPONSE_STREAM")]
    ResponseStream,
}

impl InvokeMode {
    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buffered => "BUFFERED",
            Self::ResponseStream => "RESPONSE_STREAM",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "BUFFERED" => Some(Self::Buffered),
            "RESPONSE_STREAM" => Some(Self::ResponseStream),
            _ => None,
        }
    }
}

/// A URL's cross-origin resource sharing settings, as the API carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct Cors {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_headers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_methods: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_origins: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expose_headers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
}

/// The body of CreateFunctionUrlConfig and UpdateFunctionUrlConfig (strings kept as sent, so
/// that a bad enum value is reported in AWS's words rather than as unparseable JSON).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct UrlConfigRequest {
    pub auth_type: Option<String>,
    pub cors: Option<Cors>,
    pub invoke_mode: Option<String>,
}

/// What a valid request sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlSettings {
    /// Given, or absent (required on create; kept on update).
    pub auth_type: Option<AuthType>,
    /// Given (replacing the whole CORS configuration), or absent.
    pub cors: Option<Cors>,
    /// Given, or absent (BUFFERED on create; kept on update).
    pub invoke_mode: Option<InvokeMode>,
}

/// A function URL as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionUrlConfig {
    /// The function's name.
    pub function: String,
    /// The alias it belongs to; empty for the unqualified function.
    pub qualifier: String,
    /// The 32-character id in its host name (and path).
    pub url_id: String,
    /// The region it was made in (its requests' region).
    pub region: String,
    /// How callers authenticate.
    pub auth_type: AuthType,
    /// CORS, if configured.
    pub cors: Option<Cors>,
    /// Buffered or streamed.
    pub invoke_mode: InvokeMode,
    /// ISO 8601, microseconds, UTC.
    pub creation_time: String,
    /// ISO 8601, microseconds, UTC.
    pub last_modified_time: String,
}

/// Length of a URL id (lowercase letters and digits).
pub const URL_ID_LEN: usize = 32;

/// Whether `s` could be a URL id.
pub fn is_url_id(s: &str) -> bool {
    s.len() == URL_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// AWS's pattern for a URL's qualifier: an alias name, never a version number or `$LATEST`.
pub const QUALIFIER_PATTERN: &str = "((?!^\\d+$)^[0-9a-zA-Z-_]+$)";

/// Checks a URL's `Qualifier` query parameter as the model constrains it.
pub fn check_qualifier(q: &str) -> Result<(), LambdaError> {
    let mut errors = ValidationErrors::default();
    if q.len() > 128 {
        errors.push(
            q,
            "qualifier",
            "Member must have length less than or equal to 128",
        );
    }
    let chars_ok = !q.is_empty()
        && q.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !chars_ok || q.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(
            q,
            "qualifier",
            &format!("Member must satisfy regular expression pattern: {QUALIFIER_PATTERN}"),
        );
    }
    errors.finish()
}

fn list_display(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

impl UrlConfigRequest {
    /// Validates the request; `create` makes `AuthType` required. Every model violation is
    /// reported at once, as AWS does.
    pub fn settings(&self, create: bool) -> Result<UrlSettings, LambdaError> {
        let mut errors = ValidationErrors::default();
        let auth_type = match self.auth_type.as_deref() {
            None => {
                if create {
                    errors.push_null("authType");
                }
                None
            }
            Some(s) => {
                let t = AuthType::parse(s);
                if t.is_none() {
                    errors.push(
                        s,
                        "authType",
                        "Member must satisfy enum value set: [AWS_IAM, NONE]",
                    );
                }
                t
            }
        };
        let invoke_mode = match self.invoke_mode.as_deref() {
            None => None,
            Some(s) => {
                let m = InvokeMode::parse(s);
                if m.is_none() {
                    errors.push(
                        s,
                        "invokeMode",
                        "Member must satisfy enum value set: [RESPONSE_STREAM, BUFFERED]",
                    );
                }
                m
            }
        };
        if let Some(c) = &self.cors {
            check_cors(c, &mut errors);
        }
        errors.finish()?;
        Ok(UrlSettings {
            auth_type,
            cors: self.cors.clone(),
            invoke_mode,
        })
    }
}

fn check_list(
    errors: &mut ValidationErrors,
    items: Option<&Vec<String>>,
    field: &str,
    max_items: usize,
    (min_len, max_len): (usize, usize),
) {
    let Some(items) = items else { return };
    if items.len() > max_items {
        errors.push(
            &list_display(items),
            field,
            &format!("Member must have length less than or equal to {max_items}"),
        );
    }
    let long: Vec<&String> = items.iter().filter(|s| s.len() > max_len).collect();
    let short = items.iter().any(|s| s.len() < min_len);
    if !long.is_empty() {
        errors.push(
            &list_display(items),
            field,
            &format!("Member must satisfy constraint: [Member must have length less than or equal to {max_len}]"),
        );
    } else if short {
        errors.push(
            &list_display(items),
            field,
            &format!("Member must satisfy constraint: [Member must have length greater than or equal to {min_len}]"),
        );
    }
}

fn check_cors(c: &Cors, errors: &mut ValidationErrors) {
    check_list(
        errors,
        c.allow_headers.as_ref(),
        "cors.allowHeaders",
        100,
        (0, 1024),
    );
    check_list(
        errors,
        c.allow_methods.as_ref(),
        "cors.allowMethods",
        6,
        (0, 6),
    );
    check_list(
        errors,
        c.allow_origins.as_ref(),
        "cors.allowOrigins",
        100,
        (1, 253),
    );
    check_list(
        errors,
        c.expose_headers.as_ref(),
        "cors.exposeHeaders",
        100,
        (0, 1024),
    );
    if let Some(n) = c.max_age {
        if n < 0 {
            errors.push(
                &n.to_string(),
                "cors.maxAge",
                "Member must have value greater than or equal to 0",
            );
        } else if n > 86_400 {
            errors.push(
                &n.to_string(),
                "cors.maxAge",
                "Member must have value less than or equal to 86400",
            );
        }
    }
}

impl FunctionUrlConfig {
    /// The members Get/Update/List return, given the URL as served and the function's ARN.
    pub fn wire(&self, url: &str, function_arn: &str) -> serde_json::Value {
        let mut v = serde_json::json!({
            "FunctionUrl": url,
            "FunctionArn": function_arn,
            "AuthType": self.auth_type.as_str(),
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "InvokeMode": self.invoke_mode.as_str(),
        });
        if let Some(c) = &self.cors {
            v["Cors"] = serde_json::to_value(c).unwrap_or_default();
        }
        v
    }
}

/// What CORS adds to an answer, or answers itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsVerdict {
    /// Not a cross-origin request this configuration speaks to: nothing added.
    None,
    /// A preflight the URL answers itself (the function is not invoked), with these headers.
    Preflight(Vec<(&'static str, String)>),
    /// An actual request from an allowed origin: these headers go on the function's answer.
    Actual(Vec<(&'static str, String)>),
}

fn origin_allowed(c: &Cors, origin: &str) -> Option<String> {
    let origins = c.allow_origins.as_deref().unwrap_or_default();
    if origins.iter().any(|o| o == "*") {
        // With credentials, a wildcard cannot be sent back: browsers refuse it.
        return Some(if c.allow_credentials == Some(true) {
            origin.to_string()
        } else {
            "*".to_string()
        });
    }
    origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
        .then(|| origin.to_string())
}

fn contains_ci(list: Option<&Vec<String>>, item: &str) -> bool {
    list.is_some_and(|l| l.iter().any(|x| x == "*" || x.eq_ignore_ascii_case(item)))
}

impl Cors {
    /// What this configuration does with a request of `method` carrying `origin` and, for a
    /// preflight, `Access-Control-Request-Method`/`-Headers`.
    pub fn verdict(
        &self,
        method: &str,
        origin: Option<&str>,
        request_method: Option<&str>,
        request_headers: Option<&str>,
    ) -> CorsVerdict {
        let Some(origin) = origin else {
            return CorsVerdict::None;
        };
        let allowed = origin_allowed(self, origin);
        if method.eq_ignore_ascii_case("OPTIONS") {
            if let Some(rm) = request_method {
                let mut h = Vec::new();
                let Some(allow_origin) = allowed else {
                    // A preflight from an origin not allowed: answered, without permission.
                    return CorsVerdict::Preflight(h);
                };
                let method_ok = contains_ci(self.allow_methods.as_ref(), rm);
                let headers_ok = request_headers.is_none_or(|rh| {
                    rh.split(',')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .all(|x| contains_ci(self.allow_headers.as_ref(), x))
                });
                if !method_ok || !headers_ok {
                    return CorsVerdict::Preflight(h);
                }
                h.push(("access-control-allow-origin", allow_origin));
                if let Some(m) = self.allow_methods.as_ref().filter(|m| !m.is_empty()) {
                    h.push(("access-control-allow-methods", m.join(",")));
                }
                if let Some(a) = self.allow_headers.as_ref().filter(|a| !a.is_empty()) {
                    h.push(("access-control-allow-headers", a.join(",")));
                }
                if self.allow_credentials == Some(true) {
                    h.push(("access-control-allow-credentials", "true".to_string()));
                }
                if let Some(n) = self.max_age {
                    h.push(("access-control-max-age", n.to_string()));
                }
                h.push(("vary", "Origin".to_string()));
                return CorsVerdict::Preflight(h);
            }
        }
        let Some(allow_origin) = allowed else {
            return CorsVerdict::None;
        };
        let mut h = vec![("access-control-allow-origin", allow_origin)];
        if let Some(e) = self.expose_headers.as_ref().filter(|e| !e.is_empty()) {
            h.push(("access-control-expose-headers", e.join(",")));
        }
        if self.allow_credentials == Some(true) {
            h.push(("access-control-allow-credentials", "true".to_string()));
        }
        h.push(("vary", "Origin".to_string()));
        CorsVerdict::Actual(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> UrlConfigRequest {
        serde_json::from_str(json).expect("request json")
    }

    #[test]
    fn create_requires_auth_type_and_reports_every_violation() {
        let e = req("{}").settings(true).expect_err("no auth type");
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'authType' failed to satisfy constraint: Member must not be null"
        );
        assert!(req("{}").settings(false).is_ok());
        let e = req(r#"{"AuthType":"OPEN","InvokeMode":"FAST","Cors":{"MaxAge":86401,"AllowMethods":["GET","POST","PUT","PATCH","DELETE","HEAD","*"]}}"#)
            .settings(true)
            .expect_err("four violations");
        assert!(
            e.message.starts_with("4 validation errors detected: "),
            "{}",
            e.message
        );
        assert!(e.message.contains("Value 'OPEN' at 'authType' failed to satisfy constraint: Member must satisfy enum value set: [AWS_IAM, NONE]"));
        assert!(e.message.contains("Value 'FAST' at 'invokeMode'"));
        assert!(e.message.contains("Value '86401' at 'cors.maxAge' failed to satisfy constraint: Member must have value less than or equal to 86400"));
        assert!(e.message.contains("at 'cors.allowMethods' failed to satisfy constraint: Member must have length less than or equal to 6"));
        let long = "x".repeat(254);
        let e = req(&format!(
            r#"{{"AuthType":"NONE","Cors":{{"AllowOrigins":["{long}"]}}}}"#
        ))
        .settings(true)
        .expect_err("long origin");
        assert!(e
            .message
            .contains("Member must have length less than or equal to 253"));
        let ok =
            req(r#"{"AuthType":"AWS_IAM","InvokeMode":"RESPONSE_STREAM","Cors":{"MaxAge":0}}"#)
                .settings(true)
                .expect("valid");
        assert_eq!(ok.auth_type, Some(AuthType::AwsIam));
        assert_eq!(ok.invoke_mode, Some(InvokeMode::ResponseStream));
    }

    #[test]
    fn qualifiers_are_alias_names_only() {
        assert!(check_qualifier("live").is_ok());
        assert!(check_qualifier("v1-blue_2").is_ok());
        let e = check_qualifier("1").expect_err("a version number");
        assert_eq!(
            e.message,
            "1 validation error detected: Value '1' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)"
        );
        assert!(check_qualifier("$LATEST").is_err());
        assert!(check_qualifier(&"a".repeat(129)).is_err());
    }

    #[test]
    fn url_ids_are_32_lowercase_alphanumerics() {
        assert!(is_url_id("abcdefghijklmnopqrstuvwxyz012345"));
        assert!(!is_url_id("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"));
        assert!(!is_url_id("abc"));
        assert!(!is_url_id("abcdefghijklmnopqrstuvwxyz01234-"));
    }

    fn cors() -> Cors {
        Cors {
            allow_credentials: Some(true),
            allow_headers: Some(vec!["content-type".into(), "x-custom".into()]),
            allow_methods: Some(vec!["GET".into(), "POST".into()]),
            allow_origins: Some(vec!["https://app.example".into()]),
            expose_headers: Some(vec!["x-total".into()]),
            max_age: Some(300),
        }
    }

    #[test]
    fn preflight_from_an_allowed_origin_is_answered_in_full() {
        let v = cors().verdict(
            "OPTIONS",
            Some("https://app.example"),
            Some("POST"),
            Some("Content-Type, X-Custom"),
        );
        let CorsVerdict::Preflight(h) = v else {
            panic!("{v:?}")
        };
        let get = |k: &str| h.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(get("access-control-allow-methods"), Some("GET,POST"));
        assert_eq!(
            get("access-control-allow-headers"),
            Some("content-type,x-custom")
        );
        assert_eq!(get("access-control-allow-credentials"), Some("true"));
        assert_eq!(get("access-control-max-age"), Some("300"));
    }

    #[test]
    fn preflights_outside_the_configuration_get_no_permission() {
        for (origin, method, headers) in [
            ("https://evil.example", "POST", None),
            ("https://app.example", "DELETE", None),
            ("https://app.example", "POST", Some("x-other")),
        ] {
            let v = cors().verdict("OPTIONS", Some(origin), Some(method), headers);
            assert_eq!(v, CorsVerdict::Preflight(Vec::new()), "{origin} {method}");
        }
        // Not a preflight without Access-Control-Request-Method, nor without an Origin.
        assert!(matches!(
            cors().verdict("OPTIONS", Some("https://app.example"), None, None),
            CorsVerdict::Actual(_)
        ));
        assert_eq!(cors().verdict("GET", None, None, None), CorsVerdict::None);
    }

    #[test]
    fn actual_requests_get_origin_and_exposed_headers() {
        let CorsVerdict::Actual(h) = cors().verdict("GET", Some("https://app.example"), None, None)
        else {
            panic!("allowed origin")
        };
        assert!(h.contains(&("access-control-expose-headers", "x-total".to_string())));
        assert_eq!(
            cors().verdict("GET", Some("https://evil.example"), None, None),
            CorsVerdict::None
        );
        let open = Cors {
            allow_origins: Some(vec!["*".into()]),
            ..Cors::default()
        };
        let CorsVerdict::Actual(h) = open.verdict("GET", Some("https://any.example"), None, None)
        else {
            panic!("wildcard")
        };
        assert_eq!(h[0], ("access-control-allow-origin", "*".to_string()));
    }
}
