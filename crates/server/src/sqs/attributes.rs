//! Queue attributes (names, ranges, defaults, the redrive policies) and message attributes
//! (their rules, and the MD5 digests SQS answers with).

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use nimbus_store::queues::{MessageAttributeValue, QueueRecord};
use serde_json::{Map, Value};

use super::{queue_of_arn, SqsError, SqsErrorCode, SqsResult};
use crate::app::App;

/// AWS compat: the largest message (body and attributes), and the largest batch.
pub(crate) const MAX_MESSAGE_BYTES: i64 = 262_144;

/// AWS compat: the settable attributes, their ranges and defaults.
const RANGES: &[(&str, i64, i64, i64)] = &[
    ("DelaySeconds", 0, 900, 0),
    (
        "MaximumMessageSize",
        1_024,
        MAX_MESSAGE_BYTES,
        MAX_MESSAGE_BYTES,
    ),
    ("MessageRetentionPeriod", 60, 1_209_600, 345_600),
    ("ReceiveMessageWaitTimeSeconds", 0, 20, 0),
    ("VisibilityTimeout", 0, 43_200, 30),
    ("KmsDataKeyReusePeriodSeconds", 60, 86_400, 300),
];

/// Attributes only a FIFO queue has.
const FIFO_ONLY: &[&str] = &[
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

/// Attributes that are read, never set.
const READ_ONLY: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

/// Every attribute name GetQueueAttributes knows.
pub(crate) const ALL_NAMES: &[&str] = &[
    "Policy",
    "VisibilityTimeout",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
    "ApproximateNumberOfMessagesDelayed",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "RedriveAllowPolicy",
    "SqsManagedSseEnabled",
];

fn unknown(name: &str) -> SqsError {
    SqsError::new(
        SqsErrorCode::InvalidAttributeName,
        format!("Unknown Attribute {name}."),
    )
}

fn bad_value(name: &str) -> SqsError {
    SqsError::new(
        SqsErrorCode::InvalidAttributeValue,
        format!("Invalid value for the parameter {name}."),
    )
}

fn bad_policy(name: &str, value: &str, reason: &str) -> SqsError {
    SqsError::invalid(format!(
        "Value {value} for parameter {name} is invalid. Reason: {reason}"
    ))
}

fn boolean(name: &str, value: &str) -> SqsResult<String> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok("true".into()),
        "false" => Ok("false".into()),
        _ => Err(bad_value(name)),
    }
}

/// The redrive policy a queue has: where and after how many receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redrive {
    pub(crate) dead_letter_queue: String,
    pub(crate) max_receive_count: u32,
}

/// A queue's attributes as numbers, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) fifo: bool,
    pub(crate) delay_seconds: i64,
    pub(crate) maximum_message_size: i64,
    pub(crate) retention_seconds: i64,
    pub(crate) wait_seconds: i64,
    pub(crate) visibility_timeout: i64,
    pub(crate) content_based_deduplication: bool,
    pub(crate) redrive: Option<Redrive>,
}

fn number(q: &QueueRecord, name: &str) -> i64 {
    let default = RANGES.iter().find(|(n, ..)| *n == name).map_or(0, |r| r.3);
    q.attributes
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What `q`'s stored attributes mean.
pub(crate) fn settings(app: &App, q: &QueueRecord) -> Settings {
    let redrive = q.attributes.get("RedrivePolicy").and_then(|p| {
        let v: Value = serde_json::from_str(p).ok()?;
        let arn = v.get("deadLetterTargetArn")?.as_str()?;
        Some(Redrive {
            dead_letter_queue: queue_of_arn(app, arn)?.to_string(),
            max_receive_count: u32::try_from(v.get("maxReceiveCount")?.as_i64()?).ok()?,
        })
    });
    Settings {
        fifo: q.fifo,
        delay_seconds: number(q, "DelaySeconds"),
        maximum_message_size: number(q, "MaximumMessageSize"),
        retention_seconds: number(q, "MessageRetentionPeriod"),
        wait_seconds: number(q, "ReceiveMessageWaitTimeSeconds"),
        visibility_timeout: number(q, "VisibilityTimeout"),
        content_based_deduplication: q
            .attributes
            .get("ContentBasedDeduplication")
            .is_some_and(|v| v == "true"),
        redrive,
    }
}

/// AWS compat: checks attributes to set on a queue (FIFO or not) and returns them as stored
/// (numbers and flags in their canonical spelling; an empty policy removes it). The dead-letter
/// queue a redrive policy names must exist and be of the same type: `dead_letter_is_fifo`
/// looks it up.
pub(crate) fn validate(
    app: &App,
    attributes: &BTreeMap<String, String>,
    fifo: bool,
    creating: bool,
    dead_letter_is_fifo: &dyn Fn(&str) -> Option<bool>,
) -> SqsResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (name, value) in attributes {
        let name = name.as_str();
        if let Some((_, lo, hi, _)) = RANGES.iter().find(|(n, ..)| *n == name) {
            let n: i64 = value.trim().parse().map_err(|_| bad_value(name))?;
            if n < *lo || n > *hi {
                return Err(bad_value(name));
            }
            out.insert(name.to_string(), n.to_string());
            continue;
        }
        if FIFO_ONLY.contains(&name) && !fifo {
            return Err(unknown(name));
        }
        let stored = match name {
            "FifoQueue" => {
                // Fixed at creation (and the name's `.fifo` decides it).
                if !creating {
                    return Err(bad_value(name));
                }
                continue;
            }
            "ContentBasedDeduplication" | "SqsManagedSseEnabled" => boolean(name, value)?,
            "DeduplicationScope" => match value.as_str() {
                "messageGroup" | "queue" => value.clone(),
                _ => return Err(bad_value(name)),
            },
            "FifoThroughputLimit" => match value.as_str() {
                "perQueue" | "perMessageGroupId" => value.clone(),
                _ => return Err(bad_value(name)),
            },
            "Policy" | "KmsMasterKeyId" => value.clone(),
            "RedrivePolicy" => redrive_policy(app, value, fifo, dead_letter_is_fifo)?,
            "RedriveAllowPolicy" => redrive_allow_policy(value)?,
            n if READ_ONLY.contains(&n) => return Err(unknown(n)),
            n => return Err(unknown(n)),
        };
        out.insert(name.to_string(), stored);
    }
    Ok(out)
}

fn redrive_policy(
    app: &App,
    value: &str,
    fifo: bool,
    dead_letter_is_fifo: &dyn Fn(&str) -> Option<bool>,
) -> SqsResult<String> {
    const NAME: &str = "RedrivePolicy";
    if value.is_empty() {
        return Ok(String::new());
    }
    let Ok(Value::Object(v)) = serde_json::from_str::<Value>(value) else {
        return Err(bad_policy(
            NAME,
            value,
            "Invalid value for the parameter RedrivePolicy.",
        ));
    };
    let Some(arn) = v.get("deadLetterTargetArn").and_then(Value::as_str) else {
        return Err(bad_policy(
            NAME,
            value,
            "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.",
        ));
    };
    let count = match v.get("maxReceiveCount") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        None => {
            return Err(bad_policy(
                NAME,
                value,
                "Redrive policy does not contain mandatory attribute: maxReceiveCount.",
            ))
        }
        _ => None,
    };
    let count = match count {
        Some(c) if (1..=1000).contains(&c) => c,
        _ => {
            return Err(bad_policy(
                NAME,
                value,
                &format!(
                    "Invalid value for maxReceiveCount: {}, valid values are from 1 to 1000 both inclusive.",
                    v.get("maxReceiveCount").map(|c| c.to_string()).unwrap_or_default().trim_matches('"')
                ),
            ))
        }
    };
    let Some(dlq) = queue_of_arn(app, arn) else {
        return Err(bad_policy(
            NAME,
            value,
            "Dead letter target does not exist.",
        ));
    };
    match dead_letter_is_fifo(dlq) {
        None => {
            return Err(bad_policy(
                NAME,
                value,
                "Dead letter target does not exist.",
            ))
        }
        Some(f) if f != fifo => {
            return Err(bad_policy(
                NAME,
                value,
                "Dead-letter queue must be same type of queue as the source.",
            ))
        }
        Some(_) => {}
    }
    Ok(serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": count}).to_string())
}

fn redrive_allow_policy(value: &str) -> SqsResult<String> {
    const NAME: &str = "RedriveAllowPolicy";
    if value.is_empty() {
        return Ok(String::new());
    }
    let Ok(Value::Object(v)) = serde_json::from_str::<Value>(value) else {
        return Err(bad_policy(
            NAME,
            value,
            "Invalid value for the parameter RedriveAllowPolicy.",
        ));
    };
    let permission = v.get("redrivePermission").and_then(Value::as_str);
    let sources = v.get("sourceQueueArns");
    match (permission, sources) {
        (Some("allowAll" | "denyAll"), None) => {}
        (Some("byQueue"), Some(Value::Array(arns)))
            if !arns.is_empty() && arns.len() <= 10 && arns.iter().all(Value::is_string) => {}
        (Some("byQueue"), _) => return Err(bad_policy(
            NAME,
            value,
            "Amazon SQS can't create the redrive allow policy, as it’s in an unsupported format.",
        )),
        _ => return Err(bad_policy(
            NAME,
            value,
            "Amazon SQS can't create the redrive allow policy, as it’s in an unsupported format.",
        )),
    }
    Ok(Value::Object(v).to_string())
}

/// The effective value of each settable attribute of `q` (defaults filled in).
pub(crate) fn effective(q: &QueueRecord) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = RANGES
        .iter()
        .filter(|(n, ..)| *n != "KmsDataKeyReusePeriodSeconds")
        .map(|(n, .., d)| ((*n).to_string(), d.to_string()))
        .collect();
    out.insert("SqsManagedSseEnabled".into(), "true".into());
    if q.fifo {
        out.insert("FifoQueue".into(), "true".into());
        out.insert("ContentBasedDeduplication".into(), "false".into());
        out.insert("DeduplicationScope".into(), "queue".into());
        out.insert("FifoThroughputLimit".into(), "perQueue".into());
    }
    out.extend(q.attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// The message attributes of a request member (`MessageAttributes` of SendMessage or of an
/// entry), checked as SQS checks them; and their size toward the message limit.
pub(crate) fn message_attributes(
    m: &Map<String, Value>,
    member: &str,
) -> SqsResult<(BTreeMap<String, MessageAttributeValue>, usize)> {
    let Some(v) = m.get(member) else {
        return Ok((BTreeMap::new(), 0));
    };
    let Value::Object(attrs) = v else {
        if v.is_null() {
            return Ok((BTreeMap::new(), 0));
        }
        return Err(SqsError::invalid(format!(
            "Value for parameter {member} is invalid."
        )));
    };
    if attrs.len() > 10 {
        return Err(SqsError::invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [10].",
            attrs.len()
        )));
    }
    let mut out = BTreeMap::new();
    let mut size = 0;
    for (name, value) in attrs {
        check_attribute_name(name)?;
        let Value::Object(value) = value else {
            return Err(SqsError::invalid(format!(
                "The message attribute '{name}' must contain non-empty message attribute value."
            )));
        };
        let data_type = super::str_member(value, "DataType")?.unwrap_or("");
        if data_type.is_empty() {
            return Err(SqsError::invalid(format!(
                "The message attribute '{name}' must contain non-empty message attribute type."
            )));
        }
        let base = data_type.split('.').next().unwrap_or("");
        if !["String", "Number", "Binary"].contains(&base) || data_type.len() > 256 {
            return Err(SqsError::invalid(format!(
                "The type of message (user) attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
            )));
        }
        let string_value = super::str_member(value, "StringValue")?.map(str::to_string);
        let binary_value = match super::str_member(value, "BinaryValue")? {
            Some(b) => Some(
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b).map_err(
                    |_| {
                        SqsError::invalid(format!(
                            "The message attribute '{name}' has an invalid binary value."
                        ))
                    },
                )?,
            ),
            None => None,
        };
        let empty_value = || {
            SqsError::invalid(format!(
                "The message attribute '{name}' with type '{base}' must use field '{}'.",
                if base == "Binary" { "Binary" } else { "String" }
            ))
        };
        let value_len = match base {
            "Binary" => match &binary_value {
                Some(b) if !b.is_empty() && string_value.is_none() => b.len(),
                _ => return Err(empty_value()),
            },
            _ => match &string_value {
                Some(s) if !s.is_empty() && binary_value.is_none() => {
                    check_characters(s)?;
                    if base == "Number" && !is_number(s) {
                        return Err(SqsError::invalid(format!(
                            "Can't cast the value of message (user) attribute '{name}' to a number."
                        )));
                    }
                    s.len()
                }
                _ => return Err(empty_value()),
            },
        };
        size += name.len() + data_type.len() + value_len;
        out.insert(
            name.clone(),
            MessageAttributeValue {
                data_type: data_type.to_string(),
                string_value,
                binary_value,
            },
        );
    }
    Ok((out, size))
}

fn is_number(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && s.len() <= 40 && s.parse::<f64>().is_ok_and(f64::is_finite)
}

/// AWS compat: attribute names are alphanumerics, `-`, `_` and `.`, at most 256, no `..`, no
/// leading or trailing `.`, and nothing that starts with `AWS.` or `Amazon.`.
fn check_attribute_name(name: &str) -> SqsResult<()> {
    let lower = name.to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.");
    if ok {
        Ok(())
    } else {
        Err(SqsError::invalid(format!(
            "Message (user) attribute name '{name}' is invalid. The attribute name can contain only alphanumeric characters, hyphens (-), underscores (_) and periods (.), can be at most 256 characters long, can't start or end with a period, can't have successive periods and can't start with 'AWS.' or 'Amazon.' (case-insensitive)."
        )))
    }
}

/// AWS compat: the characters a body or string attribute may hold (XML's).
pub(crate) fn check_characters(s: &str) -> SqsResult<()> {
    let valid = |c: char| matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}');
    if s.chars().all(valid) {
        Ok(())
    } else {
        Err(SqsError::new(
            SqsErrorCode::InvalidMessageContents,
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
        ))
    }
}

/// AWS compat: MD5 of message attributes, as SQS computes it: by name, each name, data type
/// and value as a 4-byte big-endian length and the bytes, with a transport byte (1: string,
/// 2: binary) before the value.
/// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html#sqs-attributes-md5-message-digest-calculation>
pub(crate) fn md5_of_attributes(attrs: &BTreeMap<String, MessageAttributeValue>) -> Option<String> {
    if attrs.is_empty() {
        return None;
    }
    let mut h = Md5::new();
    let put = |h: &mut Md5, b: &[u8]| {
        h.update(u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
        h.update(b);
    };
    // A BTreeMap iterates by name in byte order, as SQS sorts them.
    for (name, v) in attrs {
        put(&mut h, name.as_bytes());
        put(&mut h, v.data_type.as_bytes());
        match (&v.binary_value, &v.string_value) {
            (Some(b), _) => {
                h.update([2u8]);
                put(&mut h, b);
            }
            (None, Some(s)) => {
                h.update([1u8]);
                put(&mut h, s.as_bytes());
            }
            (None, None) => {}
        }
    }
    Some(hex::encode(h.finalize()))
}

/// MD5 (hex) of a body.
pub(crate) fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_digests_follow_the_documented_encoding() {
        // The documented example's encoding, computed independently.
        let mut attrs = BTreeMap::new();
        attrs.insert(
            "b".to_string(),
            MessageAttributeValue {
                data_type: "Binary".into(),
                string_value: None,
                binary_value: Some(vec![1, 2]),
            },
        );
        attrs.insert(
            "a".to_string(),
            MessageAttributeValue {
                data_type: "String".into(),
                string_value: Some("x".into()),
                binary_value: None,
            },
        );
        let mut bytes = Vec::new();
        for (name, ty, transport, value) in [
            ("a", "String", 1u8, &b"x"[..]),
            ("b", "Binary", 2, &[1, 2][..]),
        ] {
            for part in [name.as_bytes(), ty.as_bytes()] {
                bytes.extend_from_slice(&u32::try_from(part.len()).expect("small").to_be_bytes());
                bytes.extend_from_slice(part);
            }
            bytes.push(transport);
            bytes.extend_from_slice(&u32::try_from(value.len()).expect("small").to_be_bytes());
            bytes.extend_from_slice(value);
        }
        assert_eq!(
            md5_of_attributes(&attrs),
            Some(hex::encode(Md5::digest(&bytes)))
        );
        assert_eq!(md5_of_attributes(&BTreeMap::new()), None);
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn names_and_characters_are_checked() {
        assert!(check_attribute_name("a.b-c_d").is_ok());
        for bad in [
            "",
            ".a",
            "a.",
            "a..b",
            "AWS.x",
            "amazon.y",
            "a b",
            &"x".repeat(257),
        ] {
            assert!(check_attribute_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_characters("tab\tok \u{10000}").is_ok());
        assert_eq!(
            check_characters("bell\u{7}").map_err(|e| e.code),
            Err(SqsErrorCode::InvalidMessageContents)
        );
        assert!(check_characters("\u{FFFE}").is_err());
    }
}
