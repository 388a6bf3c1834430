//! Event source mappings: a function polling a queue, the rules Lambda checks them by (SQS
//! sources), and the answer to a function that reports batch item failures.

use serde::{Deserialize, Serialize};

use crate::error::{LambdaError, ValidationErrors};

/// AWS compat: SQS batch size when none is given.
pub const DEFAULT_SQS_BATCH_SIZE: u32 = 10;
/// AWS compat: pollers of one SQS mapping when ScalingConfig sets none (Lambda starts at 5).
pub const DEFAULT_SQS_CONCURRENCY: u32 = 5;

/// A mapping as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSourceMapping {
    /// Its id.
    pub uuid: String,
    /// The function's name.
    pub function: String,
    /// The version or alias invoked, if any.
    pub qualifier: Option<String>,
    /// The queue's ARN.
    pub source_arn: String,
    /// Most records a batch carries.
    pub batch_size: u32,
    /// Seconds a batch may wait to fill.
    pub batching_window_seconds: u32,
    /// Filter patterns (JSON text), any of which a record must match.
    pub filters: Vec<String>,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
    /// ScalingConfig.MaximumConcurrency.
    pub maximum_concurrency: Option<u32>,
    /// Whether it polls.
    pub enabled: bool,
    /// AWS's State: Creating, Enabling, Enabled, Disabling, Disabled, Updating, Deleting.
    pub state: String,
    /// Epoch ms of the last change.
    pub last_modified_ms: i64,
}

/// AWS compat: `EventSourceMappingConfiguration` (the members an SQS mapping has).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct EventSourceMappingConfiguration {
    #[serde(rename = "UUID")]
    pub uuid: String,
    pub batch_size: u32,
    pub maximum_batching_window_in_seconds: u32,
    pub event_source_arn: String,
    pub function_arn: String,
    pub last_modified: f64,
    pub state: String,
    pub state_transition_reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_criteria: Option<FilterCriteria>,
    pub function_response_types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling_config: Option<ScalingConfig>,
    pub event_source_mapping_arn: String,
}

/// AWS compat: `FilterCriteria`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct FilterCriteria {
    #[serde(default)]
    pub filters: Option<Vec<Filter>>,
}

/// AWS compat: one `Filter`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct Filter {
    #[serde(default)]
    pub pattern: Option<String>,
}

/// AWS compat: `ScalingConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct ScalingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_concurrency: Option<i64>,
}

/// The body of Create- and UpdateEventSourceMapping, as given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct MappingRequest {
    pub function_name: Option<String>,
    pub event_source_arn: Option<String>,
    pub enabled: Option<bool>,
    pub batch_size: Option<i64>,
    pub maximum_batching_window_in_seconds: Option<i64>,
    pub filter_criteria: Option<FilterCriteria>,
    pub function_response_types: Option<Vec<String>>,
    pub scaling_config: Option<ScalingConfig>,
    // Stream sources' members: refused for queues.
    pub starting_position: Option<String>,
    pub parallelization_factor: Option<i64>,
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_record_age_in_seconds: Option<i64>,
    pub bisect_batch_on_function_error: Option<bool>,
    pub tumbling_window_in_seconds: Option<i64>,
    pub destination_config: Option<serde_json::Value>,
}

impl EventSourceMapping {
    /// Its configuration, in `region` of `account`; the function's unqualified ARN being
    /// `function_arn`.
    pub fn configuration(
        &self,
        region: &str,
        account: &str,
        function_arn: &str,
    ) -> EventSourceMappingConfiguration {
        let function_arn = match &self.qualifier {
            Some(q) => format!("{function_arn}:{q}"),
            None => function_arn.to_string(),
        };
        EventSourceMappingConfiguration {
            uuid: self.uuid.clone(),
            batch_size: self.batch_size,
            maximum_batching_window_in_seconds: self.batching_window_seconds,
            event_source_arn: self.source_arn.clone(),
            function_arn,
            last_modified: self.last_modified_ms as f64 / 1000.0,
            state: self.state.clone(),
            state_transition_reason: "USER_INITIATED",
            filter_criteria: (!self.filters.is_empty()).then(|| FilterCriteria {
                filters: Some(
                    self.filters
                        .iter()
                        .map(|p| Filter {
                            pattern: Some(p.clone()),
                        })
                        .collect(),
                ),
            }),
            function_response_types: if self.report_batch_item_failures {
                vec!["ReportBatchItemFailures".to_string()]
            } else {
                Vec::new()
            },
            scaling_config: self.maximum_concurrency.map(|n| ScalingConfig {
                maximum_concurrency: Some(i64::from(n)),
            }),
            event_source_mapping_arn: format!(
                "arn:aws:lambda:{region}:{account}:event-source-mapping:{}",
                self.uuid
            ),
        }
    }

    /// Pollers to run.
    pub fn concurrency(&self) -> u32 {
        self.maximum_concurrency.unwrap_or(DEFAULT_SQS_CONCURRENCY)
    }
}

/// Applies a request's settings to `target` (a new mapping's defaults, or a stored one),
/// checking them as Lambda does for an SQS source (`fifo`: the queue is FIFO). A refused
/// request changes nothing.
pub fn apply(
    target: &mut EventSourceMapping,
    req: &MappingRequest,
    fifo: bool,
) -> Result<(), LambdaError> {
    let mut next = target.clone();
    apply_to(&mut next, req, fifo)?;
    *target = next;
    Ok(())
}

fn apply_to(
    m: &mut EventSourceMapping,
    req: &MappingRequest,
    fifo: bool,
) -> Result<(), LambdaError> {
    let stream_only = [
        ("StartingPosition", req.starting_position.is_some()),
        (
            "ParallelizationFactor",
            req.parallelization_factor.is_some(),
        ),
        ("MaximumRetryAttempts", req.maximum_retry_attempts.is_some()),
        (
            "MaximumRecordAgeInSeconds",
            req.maximum_record_age_in_seconds.is_some(),
        ),
        (
            "BisectBatchOnFunctionError",
            req.bisect_batch_on_function_error.is_some(),
        ),
        (
            "TumblingWindowInSeconds",
            req.tumbling_window_in_seconds.is_some(),
        ),
        ("DestinationConfig", req.destination_config.is_some()),
    ];
    if let Some((name, _)) = stream_only.iter().find(|(_, given)| *given) {
        return Err(LambdaError::invalid_parameter(format!(
            "Unsupported {name} parameter for this event source."
        )));
    }
    let mut errors = ValidationErrors::default();
    if let Some(n) = req.batch_size {
        if n < 1 {
            errors.push(
                &n.to_string(),
                "batchSize",
                "Member must have value greater than or equal to 1",
            );
        } else if n > 10_000 {
            errors.push(
                &n.to_string(),
                "batchSize",
                "Member must have value less than or equal to 10000",
            );
        }
    }
    if let Some(n) = req.maximum_batching_window_in_seconds {
        if n < 0 {
            errors.push(
                &n.to_string(),
                "maximumBatchingWindowInSeconds",
                "Member must have value greater than or equal to 0",
            );
        } else if n > 300 {
            errors.push(
                &n.to_string(),
                "maximumBatchingWindowInSeconds",
                "Member must have value less than or equal to 300",
            );
        }
    }
    if let Some(types) = &req.function_response_types {
        for t in types {
            if t != "ReportBatchItemFailures" {
                errors.push(
                    t,
                    "functionResponseTypes",
                    "Member must satisfy enum value set: [ReportBatchItemFailures]",
                );
            }
        }
    }
    errors.finish()?;
    if let Some(n) = req.batch_size {
        m.batch_size = u32::try_from(n).unwrap_or(DEFAULT_SQS_BATCH_SIZE);
    }
    if let Some(n) = req.maximum_batching_window_in_seconds {
        m.batching_window_seconds = u32::try_from(n).unwrap_or(0);
    }
    if fifo && m.batch_size > 10 {
        return Err(LambdaError::invalid_parameter(
            "Batch size cannot be greater than 10 for an SQS FIFO queue.",
        ));
    }
    if m.batch_size > 10 && m.batching_window_seconds == 0 {
        // AWS compat: spec §5b #50.
        return Err(LambdaError::invalid_parameter(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
        ));
    }
    if let Some(s) = &req.scaling_config {
        match s.maximum_concurrency {
            Some(n) if !(2..=1000).contains(&n) => {
                return Err(LambdaError::invalid_parameter(
                    "Maximum concurrency must be between 2 and 1000.",
                ))
            }
            n => m.maximum_concurrency = n.and_then(|n| u32::try_from(n).ok()),
        }
    }
    if let Some(types) = &req.function_response_types {
        m.report_batch_item_failures = !types.is_empty();
    }
    if let Some(f) = &req.filter_criteria {
        let patterns: Vec<String> = f
            .filters
            .iter()
            .flatten()
            .map(|f| f.pattern.clone().unwrap_or_default())
            .collect();
        crate::filter::compile_filters(&patterns)?;
        m.filters = patterns;
    }
    if let Some(e) = req.enabled {
        m.enabled = e;
    }
    Ok(())
}

/// What a function that reports batch item failures said about its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchResponse {
    /// Every record succeeded.
    AllSucceeded,
    /// These records (by message id) failed; the rest succeeded.
    Failed(Vec<String>),
    /// The whole batch failed (an answer Lambda cannot read as item failures).
    AllFailed,
}

/// AWS compat: Lambda's reading of a `ReportBatchItemFailures` answer. Complete success: an
/// empty or null answer, an empty or null `batchItemFailures`. Complete failure: invalid
/// JSON, an `itemIdentifier` that is missing, null, empty, not a string, or no id of the
/// batch's. Otherwise the ids listed failed.
pub fn read_batch_response(payload: &[u8], ids: &[&str]) -> BatchResponse {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return BatchResponse::AllSucceeded;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return BatchResponse::AllFailed;
    };
    let failures = match &v {
        serde_json::Value::Null => return BatchResponse::AllSucceeded,
        serde_json::Value::Object(o) => match o.get("batchItemFailures") {
            None | Some(serde_json::Value::Null) => return BatchResponse::AllSucceeded,
            Some(serde_json::Value::Array(a)) => a,
            Some(_) => return BatchResponse::AllFailed,
        },
        // Any other JSON answer carries no item failures.
        _ => return BatchResponse::AllSucceeded,
    };
    if failures.is_empty() {
        return BatchResponse::AllSucceeded;
    }
    let mut failed = Vec::new();
    for f in failures {
        match f.get("itemIdentifier").and_then(serde_json::Value::as_str) {
            Some(id) if !id.is_empty() && ids.contains(&id) => failed.push(id.to_string()),
            _ => return BatchResponse::AllFailed,
        }
    }
    BatchResponse::Failed(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> EventSourceMapping {
        EventSourceMapping {
            uuid: "u".into(),
            function: "f".into(),
            qualifier: None,
            source_arn: "arn:aws:sqs:us-east-1:000000000000:q".into(),
            batch_size: DEFAULT_SQS_BATCH_SIZE,
            batching_window_seconds: 0,
            filters: Vec::new(),
            report_batch_item_failures: false,
            maximum_concurrency: None,
            enabled: true,
            state: "Creating".into(),
            last_modified_ms: 1_500,
        }
    }

    #[test]
    fn batch_item_failures_are_read_as_lambda_reads_them() {
        let ids = ["a", "b", "c"];
        for ok in [
            "",
            "null",
            "{}",
            r#"{"batchItemFailures":[]}"#,
            r#"{"batchItemFailures":null}"#,
            r#""done""#,
        ] {
            assert_eq!(
                read_batch_response(ok.as_bytes(), &ids),
                BatchResponse::AllSucceeded,
                "{ok}"
            );
        }
        assert_eq!(
            read_batch_response(
                br#"{"batchItemFailures":[{"itemIdentifier":"b"},{"itemIdentifier":"c"}]}"#,
                &ids
            ),
            BatchResponse::Failed(vec!["b".into(), "c".into()])
        );
        for bad in [
            "{not json",
            r#"{"batchItemFailures":[{"itemIdentifier":""}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":null}]}"#,
            r#"{"batchItemFailures":[{"itemId":"a"}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":"zzz"}]}"#,
            r#"{"batchItemFailures":"a"}"#,
        ] {
            assert_eq!(
                read_batch_response(bad.as_bytes(), &ids),
                BatchResponse::AllFailed,
                "{bad}"
            );
        }
    }

    #[test]
    fn sqs_rules_are_checked() {
        let req = |batch: Option<i64>, window: Option<i64>| MappingRequest {
            batch_size: batch,
            maximum_batching_window_in_seconds: window,
            ..MappingRequest::default()
        };
        let mut m = mapping();
        let e = apply(&mut m, &req(Some(11), None), false).expect_err("window needed");
        assert_eq!(
            e.message,
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
        );
        assert_eq!(m, mapping(), "nothing applied from a refused request");
        apply(&mut m, &req(Some(100), Some(1)), false).expect("valid");
        assert_eq!((m.batch_size, m.batching_window_seconds), (100, 1));
        let e = apply(&mut mapping(), &req(Some(20), Some(1)), true).expect_err("fifo");
        assert!(e.message.contains("FIFO"), "{}", e.message);
        let e = apply(&mut mapping(), &req(Some(0), Some(301)), false).expect_err("ranges");
        assert!(
            e.message.starts_with("2 validation errors detected"),
            "{}",
            e.message
        );
        let stream = MappingRequest {
            starting_position: Some("LATEST".into()),
            ..MappingRequest::default()
        };
        let e = apply(&mut mapping(), &stream, false).expect_err("stream member");
        assert_eq!(
            e.message,
            "Unsupported StartingPosition parameter for this event source."
        );
        let scaling = MappingRequest {
            scaling_config: Some(ScalingConfig {
                maximum_concurrency: Some(1),
            }),
            ..MappingRequest::default()
        };
        assert!(apply(&mut mapping(), &scaling, false).is_err());
    }

    #[test]
    fn configurations_have_lambdas_shape() {
        let mut m = mapping();
        m.report_batch_item_failures = true;
        m.filters = vec![r#"{"body":{"a":[1]}}"#.into()];
        let c = serde_json::to_value(m.configuration("us-east-1", "000000000000", "arn:f"))
            .expect("json");
        assert_eq!(c["UUID"], "u");
        assert_eq!(c["FunctionArn"], "arn:f");
        assert_eq!(c["LastModified"], 1.5);
        assert_eq!(
            c["FunctionResponseTypes"],
            serde_json::json!(["ReportBatchItemFailures"])
        );
        assert_eq!(
            c["FilterCriteria"]["Filters"][0]["Pattern"],
            r#"{"body":{"a":[1]}}"#
        );
        assert_eq!(
            c["EventSourceMappingArn"],
            "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:u"
        );
        assert!(c.get("ScalingConfig").is_none());
    }
}
