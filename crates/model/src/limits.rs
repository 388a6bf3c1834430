//! Lambda's quotas and the checks that enforce them with AWS's messages.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex_lite::Regex;

use crate::error::LambdaError;

/// Smallest `MemorySize`, MB.
pub const MIN_MEMORY: u32 = 128;
/// Largest `MemorySize`, MB.
pub const MAX_MEMORY: u32 = 10_240;
/// Default `MemorySize`, MB.
pub const DEFAULT_MEMORY: u32 = 128;
/// Shortest `Timeout`, seconds.
pub const MIN_TIMEOUT: u32 = 1;
/// Longest `Timeout`, seconds.
pub const MAX_TIMEOUT: u32 = 900;
/// Default `Timeout`, seconds.
pub const DEFAULT_TIMEOUT: u32 = 3;
/// Smallest (and default) `/tmp`, MB.
pub const MIN_EPHEMERAL: u32 = 512;
/// Largest `/tmp`, MB.
pub const MAX_EPHEMERAL: u32 = 10_240;
/// Largest zip uploaded directly.
pub const MAX_ZIPPED_BYTES: u64 = 52_428_800;
/// Largest unzipped package.
pub const MAX_UNZIPPED_BYTES: u64 = 262_144_000;
/// Largest CreateFunction/UpdateFunctionCode request body.
pub const MAX_CODE_REQUEST_BYTES: usize = 70_167_211;
/// Largest serialized environment, bytes.
pub const MAX_ENVIRONMENT_BYTES: usize = 4096;
/// Tags per resource.
pub const MAX_TAGS: usize = 50;
/// Layers per function.
pub const MAX_LAYERS: usize = 5;
/// Functions per ListFunctions page, whatever MaxItems says.
pub const LIST_PAGE_MAX: usize = 50;
/// Total code storage per account (GetAccountSettings).
pub const TOTAL_CODE_SIZE: u64 = 80_530_636_800;

/// AWS compat: the `RoleArn` pattern, as quoted in messages.
pub const ROLE_PATTERN: &str = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+";

/// AWS compat: environment variables Lambda sets itself and refuses to let functions set.
pub const RESERVED_ENV_KEYS: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

pub(crate) fn role_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
            .expect("constant pattern")
    })
}

pub(crate) fn env_key_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[a-zA-Z]([a-zA-Z0-9_])+$").expect("constant pattern"))
}

/// Reserved keys, then the 4 KB limit on the serialized map.
pub fn check_environment(vars: &BTreeMap<String, String>) -> Result<(), LambdaError> {
    let reserved: Vec<&str> = vars
        .keys()
        .map(String::as_str)
        .filter(|k| RESERVED_ENV_KEYS.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(LambdaError::invalid_parameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    let measured = serde_json::to_string(vars).unwrap_or_default();
    if measured.len() > MAX_ENVIRONMENT_BYTES {
        return Err(LambdaError::invalid_parameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {measured}"
        )));
    }
    Ok(())
}

/// Layer references. Nimbus has no layers yet, so every well-formed reference names a layer
/// version that does not exist, and Lambda's message for that is the truthful answer.
pub fn check_layers(layers: &[String]) -> Result<(), LambdaError> {
    if layers.len() > MAX_LAYERS {
        return Err(LambdaError::invalid_parameter(
            "Cannot reference more than 5 layers.",
        ));
    }
    match layers.first() {
        Some(arn) => Err(LambdaError::invalid_parameter(format!(
            "Layer version {arn} does not exist."
        ))),
        None => Ok(()),
    }
}

/// Tag keys and values, and the 50-tag limit on the resulting set of `total` tags.
pub fn check_tags(total: usize, new: &BTreeMap<String, String>) -> Result<(), LambdaError> {
    let mut v = crate::error::ValidationErrors::default();
    for (k, val) in new {
        if k.is_empty() || k.chars().count() > 128 {
            v.push(k, "tags", "Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]");
        } else if !k.chars().all(tag_char) {
            v.push(k, "tags", r"Map keys must satisfy constraint: [Member must satisfy regular expression pattern: ([\p{L}\p{Z}\p{N}_.:/=+\-@]*)]");
        }
        if val.chars().count() > 256 {
            v.push(val, "tags", "Map values must satisfy constraint: [Member must have length less than or equal to 256]");
        } else if !val.chars().all(tag_char) {
            v.push(val, "tags", r"Map values must satisfy constraint: [Member must satisfy regular expression pattern: ([\p{L}\p{Z}\p{N}_.:/=+\-@]*)]");
        }
    }
    v.finish()?;
    if total > MAX_TAGS {
        return Err(LambdaError::invalid_parameter(
            "Number of tags exceeds resource tag limit.",
        ));
    }
    Ok(())
}

/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]`: letters, separators (spaces), numbers and a few marks.
fn tag_char(c: char) -> bool {
    c.is_alphanumeric()
        || c == ' '
        || c.is_whitespace() && !c.is_control()
        || "_.:/=+-@".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_oversized_environment() {
        let mut m = BTreeMap::new();
        m.insert("AWS_REGION".to_string(), "x".to_string());
        let e = check_environment(&m).expect_err("reserved");
        assert!(e
            .message
            .ends_with("Reserved keys used in this request: AWS_REGION"));
        let mut m = BTreeMap::new();
        m.insert("LARGE_VAR".to_string(), "x".repeat(4096));
        let e = check_environment(&m).expect_err("too big");
        assert!(e
            .message
            .contains("exceeded the 4KB limit. String measured: {\"LARGE_VAR\":\"xxx"));
        let mut m = BTreeMap::new();
        m.insert("OK".to_string(), "x".repeat(4000));
        assert!(check_environment(&m).is_ok());
    }

    #[test]
    fn layers_and_tags() {
        let six: Vec<String> = (0..6)
            .map(|i| format!("arn:aws:lambda:us-east-1:000000000000:layer:l{i}:1"))
            .collect();
        assert_eq!(
            check_layers(&six).expect_err("6").message,
            "Cannot reference more than 5 layers."
        );
        assert!(check_layers(&[]).is_ok());
        let mut t = BTreeMap::new();
        t.insert("team".to_string(), "a b".to_string());
        assert!(check_tags(1, &t).is_ok());
        assert_eq!(
            check_tags(51, &t).expect_err("51").message,
            "Number of tags exceeds resource tag limit."
        );
        t.insert("bad*key".to_string(), String::new());
        assert!(check_tags(2, &t).is_err());
    }
}
