//! Asynchronous invocation: a function's event invoke configuration (retries, maximum event
//! age, destinations) per qualifier, the rules Lambda checks it by, and the invocation record
//! destinations receive.

use serde::{Deserialize, Serialize};

use crate::error::{LambdaError, ValidationErrors};

/// AWS compat: retries of a failed asynchronous invocation when none are configured.
pub const DEFAULT_MAXIMUM_RETRY_ATTEMPTS: u32 = 2;
/// AWS compat: the oldest an event may get before it is given up (6 h).
pub const DEFAULT_MAXIMUM_EVENT_AGE_SECONDS: u32 = 21_600;
/// AWS compat: the largest asynchronous payload (1 MB).
pub const MAX_ASYNC_PAYLOAD_BYTES: usize = 1_048_576;
/// AWS compat: the longest destination ARN.
pub const MAX_DESTINATION_LEN: usize = 350;

/// AWS compat: the pattern destinations must satisfy, as AWS states it in messages.
pub const DESTINATION_PATTERN: &str = r"^$|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)";

/// An event invoke configuration as stored: one per function and qualifier (`$LATEST`, a
/// version or an alias).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventInvokeConfig {
    /// The function's name.
    pub function: String,
    /// `$LATEST`, a version number or an alias name.
    pub qualifier: String,
    /// 0..=2; `None`: Lambda's default (2).
    pub maximum_retry_attempts: Option<u32>,
    /// 60..=21,600; `None`: Lambda's default (6 h).
    pub maximum_event_age_seconds: Option<u32>,
    /// Where a successful invocation's record goes.
    pub on_success: Option<String>,
    /// Where a failed invocation's record goes.
    pub on_failure: Option<String>,
    /// Epoch milliseconds of the last change.
    pub last_modified_ms: i64,
}

impl EventInvokeConfig {
    /// Retries in force.
    pub fn retries(&self) -> u32 {
        self.maximum_retry_attempts
            .unwrap_or(DEFAULT_MAXIMUM_RETRY_ATTEMPTS)
    }

    /// Maximum age in force, seconds.
    pub fn max_age_seconds(&self) -> u32 {
        self.maximum_event_age_seconds
            .unwrap_or(DEFAULT_MAXIMUM_EVENT_AGE_SECONDS)
    }

    /// AWS compat: `FunctionEventInvokeConfig`, the function's ARN being `function_arn`.
    pub fn wire(&self, function_arn: &str) -> FunctionEventInvokeConfig {
        FunctionEventInvokeConfig {
            // AWS compat: epoch seconds, with milliseconds.
            last_modified: self.last_modified_ms as f64 / 1000.0,
            function_arn: format!("{function_arn}:{}", self.qualifier),
            maximum_retry_attempts: self.maximum_retry_attempts,
            maximum_event_age_in_seconds: self.maximum_event_age_seconds,
            destination_config: DestinationConfig {
                on_success: Destination {
                    destination: self.on_success.clone(),
                },
                on_failure: Destination {
                    destination: self.on_failure.clone(),
                },
            },
        }
    }
}

/// AWS compat: `FunctionEventInvokeConfig`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct FunctionEventInvokeConfig {
    pub last_modified: f64,
    pub function_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_event_age_in_seconds: Option<u32>,
    pub destination_config: DestinationConfig,
}

/// AWS compat: `DestinationConfig` (both members always present, empty when unset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct DestinationConfig {
    #[serde(default)]
    pub on_success: Destination,
    #[serde(default)]
    pub on_failure: Destination,
}

/// AWS compat: `OnSuccess` / `OnFailure`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct Destination {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

/// The body of Put- and UpdateFunctionEventInvokeConfig, as given (ranges unchecked).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct EventInvokeConfigRequest {
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_event_age_in_seconds: Option<i64>,
    pub destination_config: Option<DestinationConfig>,
}

/// What a destination ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationTarget {
    /// A function (its name and optional qualifier), invoked asynchronously with the record.
    Function {
        /// The function's name.
        name: String,
        /// Its version or alias.
        qualifier: Option<String>,
    },
    /// A queue of Nimbus's queue service, by name.
    Queue {
        /// The queue's name.
        name: String,
    },
}

impl DestinationTarget {
    /// Parses a destination ARN of a kind Nimbus delivers to: `arn:aws:lambda:...:function:`
    /// or `arn:aws:sqs:...`. `None` for any other.
    pub fn parse(arn: &str) -> Option<Self> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [_, _, service, _, _, rest] = parts[..] else {
            return None;
        };
        match service {
            "lambda" if rest.starts_with("function:") => {
                let r =
                    crate::arn::FunctionRef::parse(arn, crate::arn::NameShape::Namespaced).ok()?;
                Some(Self::Function {
                    name: r.name,
                    qualifier: r.qualifier,
                })
            }
            "sqs" if !rest.is_empty() && !rest.contains(':') => Some(Self::Queue {
                name: rest.to_string(),
            }),
            _ => None,
        }
    }
}

/// Checks the ranges of a request (AWS's ValidationException, every violation at once) and
/// returns them as numbers.
pub fn check_ranges(
    req: &EventInvokeConfigRequest,
) -> Result<(Option<u32>, Option<u32>), LambdaError> {
    let mut errors = ValidationErrors::default();
    if let Some(n) = req.maximum_retry_attempts {
        if n < 0 {
            errors.push(
                &n.to_string(),
                "maximumRetryAttempts",
                "Member must have value greater than or equal to 0",
            );
        } else if n > 2 {
            errors.push(
                &n.to_string(),
                "maximumRetryAttempts",
                "Member must have value less than or equal to 2",
            );
        }
    }
    if let Some(n) = req.maximum_event_age_in_seconds {
        if n < 60 {
            errors.push(
                &n.to_string(),
                "maximumEventAgeInSeconds",
                "Member must have value greater than or equal to 60",
            );
        } else if n > 21_600 {
            errors.push(
                &n.to_string(),
                "maximumEventAgeInSeconds",
                "Member must have value less than or equal to 21600",
            );
        }
    }
    if let Some(d) = &req.destination_config {
        for (field, dest) in [
            ("destinationConfig.onSuccess.destination", &d.on_success),
            ("destinationConfig.onFailure.destination", &d.on_failure),
        ] {
            let Some(arn) = dest.destination.as_deref() else {
                continue;
            };
            if arn.len() > MAX_DESTINATION_LEN {
                errors.push(
                    arn,
                    field,
                    &format!("Member must have length less than or equal to {MAX_DESTINATION_LEN}"),
                );
            } else if !arn.is_empty() && !matches_destination_pattern(arn) {
                errors.push(
                    arn,
                    field,
                    &format!(
                        "Member must satisfy regular expression pattern: {DESTINATION_PATTERN}"
                    ),
                );
            }
        }
    }
    errors.finish()?;
    let to_u32 = |n: Option<i64>| n.and_then(|n| u32::try_from(n).ok());
    Ok((
        to_u32(req.maximum_retry_attempts),
        to_u32(req.maximum_event_age_in_seconds),
    ))
}

/// [`DESTINATION_PATTERN`] without a regex engine: `arn:aws*:<service>:<region?>:<account?>:`.
fn matches_destination_pattern(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_, partition, service, region, account, _rest] = parts[..] else {
        return false;
    };
    let alnum_dash = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    arn_ == "arn"
        && partition.starts_with("aws")
        && alnum_dash(partition)
        && !service.is_empty()
        && alnum_dash(service)
        && (region.is_empty() || valid_region(region))
        && (account.is_empty()
            || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
}

/// `[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1}`.
fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    let lower = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    let digit = |s: &str| s.len() == 1 && s.bytes().all(|b| b.is_ascii_digit());
    match parts[..] {
        [cc, name, n] => cc.len() == 2 && lower(cc) && lower(name) && digit(n),
        [cc, special, name, n] => {
            cc.len() == 2
                && lower(cc)
                && matches!(special, "gov" | "iso" | "isob")
                && lower(name)
                && digit(n)
        }
        _ => false,
    }
}

/// Why an asynchronous invocation's record is sent (`requestContext.condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    /// The function succeeded.
    Success,
    /// The function failed on every attempt allowed.
    RetriesExhausted,
    /// The event got older than its maximum age before it succeeded.
    EventAgeExceeded,
}

/// AWS compat: the invocation record a destination receives.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct InvocationRecord {
    pub version: &'static str,
    pub timestamp: String,
    pub request_context: RequestContext,
    pub request_payload: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_context: Option<ResponseContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_payload: Option<serde_json::Value>,
}

/// AWS compat: `requestContext` of an invocation record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct RequestContext {
    pub request_id: String,
    /// Qualified: `...:function:<name>:$LATEST` (or the version or alias invoked).
    pub function_arn: String,
    pub condition: Condition,
    pub approximate_invoke_count: u32,
}

/// AWS compat: `responseContext` of an invocation record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ResponseContext {
    pub status_code: u16,
    pub executed_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_error: Option<String>,
}

/// AWS compat: an invocation record's `timestamp`, `2024-05-01T12:00:00.000Z`.
pub fn record_timestamp(epoch_ms: i64) -> String {
    let t = crate::function::format_timestamp(epoch_ms);
    format!("{}Z", t.trim_end_matches("+0000"))
}

/// A payload as a record carries it: JSON as JSON, anything else as a string.
pub fn payload_value(bytes: &[u8]) -> serde_json::Value {
    if bytes.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(retries: Option<i64>, age: Option<i64>, dest: Option<&str>) -> EventInvokeConfigRequest {
        EventInvokeConfigRequest {
            maximum_retry_attempts: retries,
            maximum_event_age_in_seconds: age,
            destination_config: dest.map(|d| DestinationConfig {
                on_success: Destination::default(),
                on_failure: Destination {
                    destination: Some(d.to_string()),
                },
            }),
        }
    }

    #[test]
    fn ranges_are_checked_together() {
        assert_eq!(
            check_ranges(&req(Some(2), Some(60), None)).expect("valid"),
            (Some(2), Some(60))
        );
        let e = check_ranges(&req(Some(3), Some(59), None)).expect_err("refused");
        assert_eq!(
            e.message,
            "2 validation errors detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2; Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60"
        );
        let e = check_ranges(&req(Some(-1), Some(21_601), None)).expect_err("refused");
        assert!(
            e.message.contains("greater than or equal to 0"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("less than or equal to 21600"),
            "{}",
            e.message
        );
    }

    #[test]
    fn destinations_must_look_like_arns() {
        assert!(check_ranges(&req(
            None,
            None,
            Some("arn:aws:sqs:us-east-1:000000000000:q")
        ))
        .is_ok());
        assert!(check_ranges(&req(
            None,
            None,
            Some("arn:aws:sns:us-gov-west-1:000000000000:t")
        ))
        .is_ok());
        let e = check_ranges(&req(None, None, Some("not-an-arn"))).expect_err("refused");
        assert!(
            e.message.contains("at 'destinationConfig.onFailure.destination' failed to satisfy constraint: Member must satisfy regular expression pattern"),
            "{}",
            e.message
        );
        assert!(check_ranges(&req(
            None,
            None,
            Some("arn:aws:sqs:US-east-1:000000000000:q")
        ))
        .is_err());
        assert!(check_ranges(&req(None, None, Some("arn:aws:sqs:us-east-1:12:q"))).is_err());
    }

    #[test]
    fn targets_nimbus_delivers_to() {
        assert_eq!(
            DestinationTarget::parse("arn:aws:lambda:us-east-1:000000000000:function:f:live"),
            Some(DestinationTarget::Function {
                name: "f".into(),
                qualifier: Some("live".into())
            })
        );
        assert_eq!(
            DestinationTarget::parse("arn:aws:lambda:us-east-1:000000000000:function:f"),
            Some(DestinationTarget::Function {
                name: "f".into(),
                qualifier: None
            })
        );
        assert_eq!(
            DestinationTarget::parse("arn:aws:sqs:us-east-1:000000000000:q.fifo"),
            Some(DestinationTarget::Queue {
                name: "q.fifo".into()
            })
        );
        assert_eq!(
            DestinationTarget::parse("arn:aws:sns:us-east-1:000000000000:t"),
            None
        );
        assert_eq!(
            DestinationTarget::parse("arn:aws:lambda:us-east-1:000000000000:layer:l"),
            None
        );
        assert_eq!(
            DestinationTarget::parse("arn:aws:lambda:us-east-1:000000000000:function:a b"),
            None
        );
    }

    #[test]
    fn records_have_lambdas_shape() {
        let r = InvocationRecord {
            version: "1.0",
            timestamp: "2026-12-03T12:00:00.000Z".into(),
            request_context: RequestContext {
                request_id: "id".into(),
                function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST".into(),
                condition: Condition::RetriesExhausted,
                approximate_invoke_count: 3,
            },
            request_payload: payload_value(br#"{"a":1}"#),
            response_context: Some(ResponseContext {
                status_code: 200,
                executed_version: "$LATEST".into(),
                function_error: Some("Unhandled".into()),
            }),
            response_payload: Some(payload_value(b"not json")),
        };
        let v = serde_json::to_value(&r).expect("valid");
        assert_eq!(v["requestContext"]["condition"], "RetriesExhausted");
        assert_eq!(v["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(v["requestPayload"]["a"], 1);
        assert_eq!(v["responseContext"]["functionError"], "Unhandled");
        assert_eq!(v["responsePayload"], "not json");
        assert_eq!(record_timestamp(1_500), "1970-01-01T00:00:01.500Z");
    }
}
