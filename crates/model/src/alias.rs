//! Aliases: a name for a function version, optionally sending a share of invocations to a
//! second version (RoutingConfig), and the rules Lambda checks them by.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::LambdaError;

/// Longest alias name.
pub const MAX_ALIAS_NAME_LEN: usize = 128;

/// AWS compat: the pattern alias names must satisfy, as AWS states it in messages.
pub const ALIAS_NAME_PATTERN: &str = "(?!^[0-9]+$)([a-zA-Z0-9-_]+)";

/// An alias as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alias {
    /// The function's name.
    pub function: String,
    /// The alias's name.
    pub name: String,
    /// `$LATEST` or a version number.
    pub function_version: String,
    /// Possibly empty.
    pub description: String,
    /// At most one additional version and the share (0.0..=1.0) of invocations it gets.
    pub additional_versions: BTreeMap<String, f64>,
    /// Renewed by every change.
    pub revision_id: String,
}

/// AWS compat: `AliasConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct AliasConfiguration {
    pub alias_arn: String,
    pub name: String,
    pub function_version: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_config: Option<RoutingConfig>,
    pub revision_id: String,
}

/// `AliasRoutingConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoutingConfig {
    /// Version number to weight.
    #[serde(default)]
    pub additional_version_weights: Option<BTreeMap<String, f64>>,
}

/// The body of CreateAlias.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct CreateAliasRequest {
    pub name: Option<String>,
    pub function_version: Option<String>,
    pub description: Option<String>,
    pub routing_config: Option<RoutingConfig>,
}

/// The body of UpdateAlias.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct UpdateAliasRequest {
    pub function_version: Option<String>,
    pub description: Option<String>,
    pub routing_config: Option<RoutingConfig>,
    pub revision_id: Option<String>,
}

impl Alias {
    /// Its configuration, the function's ARN being `function_arn`.
    pub fn configuration(&self, function_arn: &str) -> AliasConfiguration {
        AliasConfiguration {
            alias_arn: format!("{function_arn}:{}", self.name),
            name: self.name.clone(),
            function_version: self.function_version.clone(),
            description: self.description.clone(),
            routing_config: (!self.additional_versions.is_empty()).then(|| RoutingConfig {
                additional_version_weights: Some(self.additional_versions.clone()),
            }),
            revision_id: self.revision_id.clone(),
        }
    }
}

/// Checks an alias name (the `Name` member, in a body or a path).
pub fn validate_alias_name(name: &str) -> Result<(), LambdaError> {
    let len = name.chars().count();
    let fail = |what: String| {
        LambdaError::validation(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: {what}"
        ))
    };
    if len == 0 {
        return Err(fail(
            "Member must have length greater than or equal to 1".into(),
        ));
    }
    if len > MAX_ALIAS_NAME_LEN {
        return Err(fail(format!(
            "Member must have length less than or equal to {MAX_ALIAS_NAME_LEN}"
        )));
    }
    let allowed = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !allowed || name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail(format!(
            "Member must satisfy regular expression pattern: {ALIAS_NAME_PATTERN}"
        )));
    }
    Ok(())
}

/// Checks a `FunctionVersion` member: `$LATEST` or a version number.
pub fn validate_function_version(v: &str) -> Result<(), LambdaError> {
    let number = !v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit());
    if v == "$LATEST" || number {
        return Ok(());
    }
    Err(LambdaError::validation(format!(
        "1 validation error detected: Value '{v}' at 'functionVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)"
    )))
}

/// Checks the weights of an alias pointing at `primary`; returns them.
pub fn validate_routing(
    primary: &str,
    routing: Option<&RoutingConfig>,
) -> Result<BTreeMap<String, f64>, LambdaError> {
    let weights = routing
        .and_then(|r| r.additional_version_weights.clone())
        .unwrap_or_default();
    if weights.len() > 1 {
        return Err(LambdaError::invalid_parameter(
            "Number of items in AdditionalVersionWeights cannot be greater than 1",
        ));
    }
    for (version, weight) in &weights {
        let number = !version.is_empty()
            && version.len() <= 10
            && version.bytes().all(|b| b.is_ascii_digit());
        if !number {
            return Err(LambdaError::validation(format!(
                "1 validation error detected: Value '{{{version}={weight}}}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]+]"
            )));
        }
        if !(0.0..=1.0).contains(weight) {
            return Err(LambdaError::validation(format!(
                "1 validation error detected: Value '{{{version}={weight}}}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]"
            )));
        }
        if version == primary {
            return Err(LambdaError::invalid_parameter(format!(
                "Invalid function version {version}. Function version {version} is already included in routing configuration."
            )));
        }
        if primary == "$LATEST" {
            return Err(LambdaError::invalid_parameter(
                "$LATEST is not supported for an alias pointing to more than 1 version",
            ));
        }
    }
    Ok(weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(v: &[(&str, f64)]) -> RoutingConfig {
        RoutingConfig {
            additional_version_weights: Some(v.iter().map(|(k, w)| (k.to_string(), *w)).collect()),
        }
    }

    #[test]
    fn names_and_versions_follow_lambdas_patterns() {
        assert!(validate_alias_name("live").is_ok());
        assert!(validate_alias_name("blue-green_2").is_ok());
        assert_eq!(
            validate_alias_name("2024").expect_err("numeric").message,
            "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
        );
        assert!(validate_alias_name("a.b").is_err());
        assert!(validate_alias_name(&"a".repeat(129)).is_err());
        assert!(validate_alias_name("").is_err());
        assert!(validate_function_version("$LATEST").is_ok());
        assert!(validate_function_version("12").is_ok());
        assert!(validate_function_version("live").is_err());
    }

    #[test]
    fn routing_rules_are_lambdas() {
        assert_eq!(
            validate_routing("1", Some(&weights(&[("2", 0.2)]))).expect("ok"),
            BTreeMap::from([("2".to_string(), 0.2)])
        );
        assert!(validate_routing("1", None).expect("ok").is_empty());
        let msg = |p: &str, w: &[(&str, f64)]| {
            validate_routing(p, Some(&weights(w)))
                .expect_err("refused")
                .message
        };
        assert_eq!(
            msg("1", &[("2", 0.1), ("3", 0.1)]),
            "Number of items in AdditionalVersionWeights cannot be greater than 1"
        );
        assert_eq!(
            msg("1", &[("1", 0.5)]),
            "Invalid function version 1. Function version 1 is already included in routing configuration."
        );
        assert_eq!(
            msg("$LATEST", &[("1", 0.5)]),
            "$LATEST is not supported for an alias pointing to more than 1 version"
        );
        assert!(msg("1", &[("2", 1.5)]).contains("less than or equal to 1.0"));
        assert!(msg("1", &[("x", 0.5)]).contains("[0-9]+"));
    }
}
