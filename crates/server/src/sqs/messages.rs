//! Sending: SendMessage(Batch), the batch rules every batch operation shares, and
//! [`send_internal`], through which the server itself sends (async invocation destinations,
//! dead-letter queues).

use std::collections::HashSet;

use base64::Engine as _;
use nimbus_store::queues::{MessageAttributeValue, MessageRecord, NewMessage, Sent};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::attributes::{self, check_characters, md5_hex, md5_of_attributes, Settings};
use super::queues::load;
use super::{
    int_member, queue_name, queue_of_arn, str_member, Input, SqsError, SqsErrorCode, SqsResult,
};
use crate::app::App;
use crate::request::Ctx;
use crate::sessions::Principal;

/// AWS compat: the most entries a batch takes.
const MAX_BATCH: usize = 10;

fn sender_id(app: &App, ctx: &Ctx) -> String {
    match &ctx.principal {
        Principal::Root => app.account.clone(),
        p => crate::api::sts::user_id(p, &app.account),
    }
}

/// The message system attributes of a request: only `AWSTraceHeader` (a String) exists.
fn system_attributes(m: &Map<String, Value>) -> SqsResult<(Option<String>, Option<String>)> {
    let (attrs, _) = attributes::message_attributes(m, "MessageSystemAttributes")?;
    if attrs.is_empty() {
        return Ok((None, None));
    }
    for (name, v) in &attrs {
        if name != "AWSTraceHeader" {
            return Err(SqsError::invalid(format!(
                "Message system attribute name '{name}' is invalid."
            )));
        }
        if v.data_type != "String" || v.string_value.as_deref().unwrap_or("").is_empty() {
            return Err(SqsError::invalid(
                "Message system attribute 'AWSTraceHeader' must have type 'String' and a non-empty value.",
            ));
        }
    }
    let trace = attrs
        .get("AWSTraceHeader")
        .and_then(|v| v.string_value.clone());
    Ok((trace, md5_of_attributes(&attrs)))
}

/// Checks one message (of SendMessage, or one batch entry) against the queue's rules: the
/// message ready to store (its record holds the digests the answer names), and its size.
fn check_message(
    app: &App,
    ctx: &Ctx,
    s: &Settings,
    m: &Map<String, Value>,
) -> SqsResult<(NewMessage, usize)> {
    let body = match str_member(m, "MessageBody")? {
        Some(b) if !b.is_empty() => b,
        _ => return Err(SqsError::missing("MessageBody")),
    };
    check_characters(body)?;
    let (attrs, attrs_size) = attributes::message_attributes(m, "MessageAttributes")?;
    let size = body.len() + attrs_size;
    let limit = usize::try_from(s.maximum_message_size).unwrap_or(usize::MAX);
    if size > limit {
        return Err(SqsError::invalid(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
        )));
    }
    let (trace_header, md5_system) = system_attributes(m)?;
    let delay = int_member(m, "DelaySeconds")?;
    if let Some(d) = delay {
        if !(0..=900).contains(&d) {
            return Err(SqsError::invalid(format!(
                "Value {d} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
            )));
        }
        if s.fifo {
            return Err(SqsError::invalid(format!(
                "Value {d} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type."
            )));
        }
    }
    let group = str_member(m, "MessageGroupId")?.map(str::to_string);
    let given_dedup = str_member(m, "MessageDeduplicationId")?.map(str::to_string);
    let dedup = if s.fifo {
        let Some(g) = &group else {
            return Err(SqsError::missing("MessageGroupId"));
        };
        check_fifo_id("MessageGroupId", g)?;
        match given_dedup {
            Some(d) => {
                check_fifo_id("MessageDeduplicationId", &d)?;
                Some(d)
            }
            None if s.content_based_deduplication => Some(hex::encode(Sha256::digest(body.as_bytes()))),
            None => {
                return Err(SqsError::invalid(
                    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                ))
            }
        }
    } else {
        if let Some(d) = given_dedup {
            return Err(SqsError::invalid(format!(
                "Value {d} for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type."
            )));
        }
        if let Some(g) = &group {
            check_fifo_id("MessageGroupId", g)?;
        }
        None
    };
    let record = MessageRecord {
        md5_body: md5_hex(body),
        md5_attributes: md5_of_attributes(&attrs),
        md5_system_attributes: md5_system,
        attributes: attrs,
        trace_header,
        sender_id: sender_id(app, ctx),
        group_id: group,
        dedup_id: dedup,
    };
    let delay_s = if s.fifo {
        s.delay_seconds
    } else {
        delay.unwrap_or(s.delay_seconds)
    };
    Ok((
        NewMessage {
            message_id: uuid::Uuid::new_v4().to_string(),
            body: body.to_string(),
            record,
            delay_ms: delay_s.saturating_mul(1000),
        },
        size,
    ))
}

/// The bytes an entry's message counts, checked or not: its body, and its attributes' names,
/// types and values.
fn payload_size(m: &Map<String, Value>) -> usize {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map_or(0, str::len);
    let attrs = m
        .get("MessageAttributes")
        .and_then(Value::as_object)
        .map_or(0, |a| {
            a.iter()
                .map(|(name, v)| {
                    let binary = text(v.get("BinaryValue"));
                    name.len()
                        + text(v.get("DataType"))
                        + text(v.get("StringValue"))
                        + binary / 4 * 3
                })
                .sum()
        });
    text(m.get("MessageBody")) + attrs
}

/// AWS compat: group and deduplication ids are 1-128 printable ASCII characters.
fn check_fifo_id(name: &str, v: &str) -> SqsResult<()> {
    if v.is_empty() || v.len() > 128 || !v.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(SqsError::invalid(format!(
            "Value {v} for parameter {name} is invalid. Reason: {name} can only include alphanumeric and punctuation characters. 1 to 128 in length."
        )));
    }
    Ok(())
}

/// The answer members of a sent message.
fn sent_members(c: &NewMessage, sent: &Sent) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("MessageId".into(), Value::String(sent.message_id.clone()));
    out.insert(
        "MD5OfMessageBody".into(),
        Value::String(c.record.md5_body.clone()),
    );
    if let Some(m) = &c.record.md5_attributes {
        out.insert("MD5OfMessageAttributes".into(), Value::String(m.clone()));
    }
    if let Some(m) = &c.record.md5_system_attributes {
        out.insert(
            "MD5OfMessageSystemAttributes".into(),
            Value::String(m.clone()),
        );
    }
    if let Some(n) = sent.sequence_number {
        out.insert("SequenceNumber".into(), Value::String(sequence_number(n)));
    }
    out
}

/// AWS compat: sequence numbers are 20-digit strings.
pub(super) fn sequence_number(n: i64) -> String {
    format!("{:020}", n)
}

pub(super) async fn send_message(
    app: &App,
    ctx: &Ctx,
    input: &Input,
) -> SqsResult<Map<String, Value>> {
    let name = queue_name(app, input)?;
    let q = load(app, &name).await?;
    let s = attributes::settings(app, &q);
    let (checked, _) = check_message(app, ctx, &s, &input.fields)?;
    let sent = app.queue_sends.send(&name, vec![checked.clone()]).await?;
    app.queue_waiters
        .wake(&name, sent.iter().filter(|s| !s.duplicate).count());
    let sent = sent
        .first()
        .ok_or_else(|| SqsError::internal("a send stored nothing"))?;
    Ok(sent_members(&checked, sent))
}

/// The entries of a batch request, checked for count and ids.
pub(super) fn batch_entries<'a>(
    input: &'a Input,
    entry_name: &str,
) -> SqsResult<Vec<&'a Map<String, Value>>> {
    let entries: Vec<&Map<String, Value>> = match input.fields.get("Entries") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_object()
                    .ok_or_else(|| SqsError::invalid("Every entry must be an object."))
            })
            .collect::<SqsResult<_>>()?,
        Some(_) => return Err(SqsError::invalid("Entries must be a list.")),
    };
    if entries.is_empty() {
        return Err(SqsError::new(
            SqsErrorCode::EmptyBatchRequest,
            format!("There should be at least one {entry_name} in the request."),
        ));
    }
    if entries.len() > MAX_BATCH {
        return Err(SqsError::new(
            SqsErrorCode::TooManyEntriesInBatchRequest,
            format!(
                "Maximum number of entries per request are {MAX_BATCH}. You have sent {}.",
                entries.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for e in &entries {
        let id = str_member(e, "Id")?.unwrap_or("");
        let ok = !id.is_empty()
            && id.len() <= 80
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(SqsError::new(
                SqsErrorCode::InvalidBatchEntryId,
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
            ));
        }
        if !seen.insert(id) {
            return Err(SqsError::new(
                SqsErrorCode::BatchEntryIdsNotDistinct,
                format!("Id {id} repeated."),
            ));
        }
    }
    Ok(entries)
}

pub(super) fn entry_id(e: &Map<String, Value>) -> String {
    e.get("Id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// A failed batch entry.
pub(super) fn failed(id: String, e: &SqsError) -> Value {
    let (_, code, status) = e.code.shape();
    json!({ "Id": id, "SenderFault": status < 500, "Code": code, "Message": e.message })
}

pub(super) fn batch_answer(successful: Vec<Value>, failures: Vec<Value>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("Successful".into(), Value::Array(successful));
    out.insert("Failed".into(), Value::Array(failures));
    out
}

pub(super) async fn send_message_batch(
    app: &App,
    ctx: &Ctx,
    input: &Input,
) -> SqsResult<Map<String, Value>> {
    let name = queue_name(app, input)?;
    let entries = batch_entries(input, "SendMessageBatchRequestEntry")?;
    let q = load(app, &name).await?;
    let s = attributes::settings(app, &q);
    // AWS compat: the whole batch's payload is bounded before any entry is looked at.
    let total: usize = entries.iter().map(|e| payload_size(e)).sum();
    let limit = usize::try_from(attributes::MAX_MESSAGE_BYTES).unwrap_or(usize::MAX);
    if total > limit {
        return Err(SqsError::new(
            SqsErrorCode::BatchRequestTooLong,
            format!(
                "Batch requests cannot be longer than {limit} bytes. You have sent {total} bytes."
            ),
        ));
    }
    let mut good = Vec::new();
    let mut failures = Vec::new();
    for e in &entries {
        match check_message(app, ctx, &s, e) {
            Ok((c, _)) => good.push((entry_id(e), c)),
            Err(err) => failures.push(failed(entry_id(e), &err)),
        }
    }
    let messages: Vec<NewMessage> = good.iter().map(|(_, c)| c.clone()).collect();
    let sent = if messages.is_empty() {
        Vec::new()
    } else {
        app.queue_sends.send(&name, messages).await?
    };
    app.queue_waiters
        .wake(&name, sent.iter().filter(|s| !s.duplicate).count());
    let successful = good
        .iter()
        .zip(&sent)
        .map(|((id, c), sent)| {
            let mut m = sent_members(c, sent);
            m.insert("Id".into(), Value::String(id.clone()));
            Value::Object(m)
        })
        .collect();
    Ok(batch_answer(successful, failures))
}

/// Sends `body` with message `attributes` to the queue `queue_arn` names, as SendMessage
/// would (the same checks, digests and durability: committed before this returns), as the
/// server itself (SenderId: the account). Returns the MessageId. A FIFO queue takes the
/// message in group `nimbus`, with a deduplication id of its own (never dropped as a
/// duplicate).
pub(crate) async fn send_internal(
    app: &App,
    queue_arn: &str,
    body: String,
    attributes: Vec<(String, MessageAttributeValue)>,
) -> Result<String, SqsError> {
    let name = queue_of_arn(app, queue_arn).ok_or_else(SqsError::no_queue)?;
    let q = load(app, name).await?;
    let s = attributes::settings(app, &q);
    let mut m = Map::new();
    m.insert("MessageBody".into(), Value::String(body));
    let attrs: Map<String, Value> = attributes
        .into_iter()
        .map(|(k, v)| {
            let mut a = Map::new();
            a.insert("DataType".into(), Value::String(v.data_type));
            if let Some(s) = v.string_value {
                a.insert("StringValue".into(), Value::String(s));
            }
            if let Some(b) = v.binary_value {
                a.insert(
                    "BinaryValue".into(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
                );
            }
            (k, Value::Object(a))
        })
        .collect();
    if !attrs.is_empty() {
        m.insert("MessageAttributes".into(), Value::Object(attrs));
    }
    if s.fifo {
        // Each internal send is a message of its own: two equal bodies are two messages.
        m.insert("MessageGroupId".into(), Value::String("nimbus".into()));
        m.insert(
            "MessageDeduplicationId".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
    }
    let ctx = Ctx {
        region: String::new(),
        request_id: String::new(),
        host: String::new(),
        principal: Principal::Root,
    };
    let (checked, _) = check_message(app, &ctx, &s, &m)?;
    let sent = app.queue_sends.send(name, vec![checked]).await?;
    app.queue_waiters.wake(name, 1);
    sent.into_iter()
        .next()
        .map(|s| s.message_id)
        .ok_or_else(|| SqsError::internal("a send stored nothing"))
}
