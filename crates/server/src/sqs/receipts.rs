//! Receiving and what follows: ReceiveMessage (long polls included), DeleteMessage(Batch),
//! ChangeMessageVisibility(Batch), and the receipt handles they take.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use nimbus_store::queues::{
    DeadLetter, MessageAttributeValue, Receipt, Receive, StoredMessage, VisibilityChange,
};
use serde_json::{json, Map, Value};

use super::attributes::{self, md5_of_attributes};
use super::messages::{batch_answer, batch_entries, entry_id, failed, sequence_number};
use super::queues::load;
use super::{
    int_member, queue_arn, queue_name, str_member, Input, SqsError, SqsErrorCode, SqsResult,
};
use crate::app::{now_ms, App};
use crate::request::Ctx;

/// The longest a receive may wait, and the longest visibility timeout.
const MAX_WAIT_SECONDS: i64 = 20;
const MAX_VISIBILITY_SECONDS: i64 = 43_200;

/// Receipt handles: base64 of the message's store id and its receive's token.
pub(crate) fn encode_handle(m: &StoredMessage) -> String {
    let token = m.receipt.as_deref().unwrap_or("");
    base64::engine::general_purpose::STANDARD.encode(format!("{}:{token}", m.id))
}

fn decode_handle(handle: &str) -> SqsResult<Receipt> {
    let invalid = || {
        SqsError::new(
            SqsErrorCode::ReceiptHandleIsInvalid,
            format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
        )
    };
    if handle.len() > 1024 {
        return Err(invalid());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(handle)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (id, token) = text.split_once(':').ok_or_else(invalid)?;
    let id: i64 = id.parse().map_err(|_| invalid())?;
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    Ok(Receipt {
        id,
        token: token.to_string(),
    })
}

/// Which system attributes a receive asked for.
fn wanted_system(input: &Input) -> SqsResult<(bool, Vec<String>)> {
    const KNOWN: &[&str] = &[
        "All",
        "SenderId",
        "SentTimestamp",
        "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp",
        "SequenceNumber",
        "MessageDeduplicationId",
        "MessageGroupId",
        "AWSTraceHeader",
        "DeadLetterQueueSourceArn",
        // AttributeNames is QueueAttributeName-typed: queue attribute names are accepted and
        // give nothing.
        "Policy",
        "VisibilityTimeout",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
    ];
    let mut names = input.strings("AttributeNames")?;
    names.extend(input.strings("MessageSystemAttributeNames")?);
    for n in &names {
        if !KNOWN.contains(&n.as_str()) && !attributes::ALL_NAMES.contains(&n.as_str()) {
            return Err(SqsError::new(
                SqsErrorCode::InvalidAttributeName,
                format!("Unknown Attribute {n}."),
            ));
        }
    }
    Ok((names.iter().any(|n| n == "All"), names))
}

fn render_message(
    app: &App,
    ctx: &Ctx,
    m: &StoredMessage,
    all_system: bool,
    system: &[String],
    attribute_names: &[String],
) -> Value {
    let mut out = Map::new();
    out.insert("MessageId".into(), Value::String(m.message_id.clone()));
    out.insert("ReceiptHandle".into(), Value::String(encode_handle(m)));
    out.insert("MD5OfBody".into(), Value::String(m.record.md5_body.clone()));
    out.insert("Body".into(), Value::String(m.body.clone()));
    let wants = |n: &str| all_system || system.iter().any(|s| s == n);
    let mut attrs = Map::new();
    let mut put = |k: &str, v: String| {
        if wants(k) {
            attrs.insert(k.to_string(), Value::String(v));
        }
    };
    put("SenderId", m.record.sender_id.clone());
    put("SentTimestamp", m.sent_ms.to_string());
    put("ApproximateReceiveCount", m.receive_count.to_string());
    put(
        "ApproximateFirstReceiveTimestamp",
        m.first_receive_ms.unwrap_or(m.sent_ms).to_string(),
    );
    if let Some(n) = m.sequence_number {
        put("SequenceNumber", sequence_number(n));
    }
    if let Some(d) = &m.record.dedup_id {
        put("MessageDeduplicationId", d.clone());
    }
    if let Some(g) = &m.record.group_id {
        put("MessageGroupId", g.clone());
    }
    if let Some(t) = &m.record.trace_header {
        put("AWSTraceHeader", t.clone());
    }
    if let Some(src) = &m.source_queue {
        put("DeadLetterQueueSourceArn", queue_arn(app, &ctx.region, src));
    }
    if !attrs.is_empty() {
        out.insert("Attributes".into(), Value::Object(attrs));
    }
    // AWS compat: "All", ".*" and "prefix.*" select message attributes; the digest covers
    // the attributes returned.
    let selected: BTreeMap<String, MessageAttributeValue> = m
        .record
        .attributes
        .iter()
        .filter(|(k, _)| {
            attribute_names.iter().any(|n| {
                n == "All"
                    || n == ".*"
                    || n == *k
                    || n.strip_suffix(".*")
                        .is_some_and(|p| k.starts_with(p) && k.len() > p.len())
            })
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(md5) = md5_of_attributes(&selected) {
        out.insert("MD5OfMessageAttributes".into(), Value::String(md5));
        let values: Map<String, Value> = selected
            .iter()
            .map(|(k, v)| {
                let mut a = Map::new();
                if let Some(s) = &v.string_value {
                    a.insert("StringValue".into(), Value::String(s.clone()));
                }
                if let Some(b) = &v.binary_value {
                    a.insert(
                        "BinaryValue".into(),
                        Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
                    );
                }
                a.insert("DataType".into(), Value::String(v.data_type.clone()));
                (k.clone(), Value::Object(a))
            })
            .collect();
        out.insert("MessageAttributes".into(), Value::Object(values));
    }
    Value::Object(out)
}

pub(super) async fn receive_message(
    app: &App,
    ctx: &Ctx,
    input: &Input,
) -> SqsResult<Map<String, Value>> {
    let name = queue_name(app, input)?;
    let max = input.int("MaxNumberOfMessages")?.unwrap_or(1);
    if !(1..=10).contains(&max) {
        return Err(SqsError::invalid(format!(
            "Value {max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
        )));
    }
    let visibility = input.int("VisibilityTimeout")?;
    if let Some(v) = visibility.filter(|v| !(0..=MAX_VISIBILITY_SECONDS).contains(v)) {
        return Err(SqsError::invalid(format!(
            "Value {v} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= {MAX_VISIBILITY_SECONDS}, if provided."
        )));
    }
    let wait = input.int("WaitTimeSeconds")?;
    if let Some(w) = wait.filter(|w| !(0..=MAX_WAIT_SECONDS).contains(w)) {
        return Err(SqsError::invalid(format!(
            "Value {w} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= {MAX_WAIT_SECONDS}, if provided."
        )));
    }
    let (all_system, system) = wanted_system(input)?;
    let attribute_names = input.strings("MessageAttributeNames")?;
    let q = load(app, &name).await?;
    let s = attributes::settings(app, &q);
    let wait = wait.unwrap_or(s.wait_seconds);
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(u64::try_from(wait).unwrap_or(0));
    let notify = (wait > 0).then(|| app.queue_waiters.of(&name));
    let messages = loop {
        // Registered before the receive looks, so a send in between is not missed.
        let notified = notify.as_ref().map(|n| {
            let mut f = Box::pin(n.notified());
            f.as_mut().enable();
            f
        });
        let now = now_ms();
        let r = Receive {
            max: usize::try_from(max).unwrap_or(1),
            visibility_ms: visibility
                .unwrap_or(s.visibility_timeout)
                .saturating_mul(1000),
            now_ms: now,
            retention_ms: s.retention_seconds.saturating_mul(1000),
            fifo: s.fifo,
            dead_letter: s.redrive.as_ref().map(|r| DeadLetter {
                queue: r.dead_letter_queue.clone(),
                max_receive_count: r.max_receive_count,
            }),
        };
        let got = app.queue_sends.receive(&name, r).await?;
        if got.moved_to_dead_letter > 0 {
            if let Some(r) = &s.redrive {
                let moved = usize::try_from(got.moved_to_dead_letter).unwrap_or(usize::MAX);
                app.queue_waiters.wake(&r.dead_letter_queue, moved);
            }
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(notified) = notified.filter(|_| got.messages.is_empty() && !left.is_zero()) else {
            break got.messages;
        };
        // Until a send wakes us, the next message becomes visible, or the wait ends.
        let until_visible = got
            .next_visible_ms
            .map(|t| Duration::from_millis(u64::try_from(t.saturating_sub(now)).unwrap_or(0)))
            .unwrap_or(left);
        let _ = tokio::time::timeout(left.min(until_visible), notified).await;
    };
    let rendered: Vec<Value> = messages
        .iter()
        .map(|m| render_message(app, ctx, m, all_system, &system, &attribute_names))
        .collect();
    let mut out = Map::new();
    if !rendered.is_empty() {
        out.insert("Messages".into(), Value::Array(rendered));
    }
    Ok(out)
}

pub(super) async fn delete_message(app: &App, input: &Input) -> SqsResult<Map<String, Value>> {
    let name = queue_name(app, input)?;
    let receipt = decode_handle(input.required("ReceiptHandle")?)?;
    let q = load(app, &name).await?;
    // AWS compat: deleting a message that is gone, or with an older receipt, succeeds.
    let deleted = app.queue_sends.delete(&name, vec![receipt]).await?;
    if q.fifo && deleted.first() == Some(&true) {
        // Its group may deliver the next message.
        app.queue_waiters.wake(&name, 1);
    }
    Ok(Map::new())
}

pub(super) async fn delete_message_batch(
    app: &App,
    input: &Input,
) -> SqsResult<Map<String, Value>> {
    let name = queue_name(app, input)?;
    let entries = batch_entries(input, "DeleteMessageBatchRequestEntry")?;
    let q = load(app, &name).await?;
    let mut ids = Vec::new();
    let mut receipts = Vec::new();
    let mut failures = Vec::new();
    for e in &entries {
        let handle = str_member(e, "ReceiptHandle").and_then(|h| match h {
            Some(h) if !h.is_empty() => decode_handle(h),
            _ => Err(SqsError::missing("ReceiptHandle")),
        });
        match handle {
            Ok(r) => {
                ids.push(entry_id(e));
                receipts.push(r);
            }
            Err(err) => failures.push(failed(entry_id(e), &err)),
        }
    }
    let deleted = if receipts.is_empty() {
        Vec::new()
    } else {
        app.queue_sends.delete(&name, receipts).await?
    };
    if q.fifo {
        app.queue_waiters
            .wake(&name, deleted.iter().filter(|d| **d).count());
    }
    let successful = ids.into_iter().map(|id| json!({ "Id": id })).collect();
    Ok(batch_answer(successful, failures))
}

fn visibility_of(m: &Map<String, Value>) -> SqsResult<i64> {
    let v = int_member(m, "VisibilityTimeout")?
        .ok_or_else(|| SqsError::missing("VisibilityTimeout"))?;
    if !(0..=MAX_VISIBILITY_SECONDS).contains(&v) {
        return Err(SqsError::invalid(format!(
            "Value {v} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and {MAX_VISIBILITY_SECONDS}, if provided."
        )));
    }
    Ok(v)
}

fn visibility_error(outcome: VisibilityChange, handle: &str) -> Option<SqsError> {
    match outcome {
        VisibilityChange::Changed => None,
        VisibilityChange::NotInFlight => Some(SqsError::new(
            SqsErrorCode::MessageNotInflight,
            "Message does not exist or is not available for visibility timeout change.",
        )),
        VisibilityChange::NotFound => Some(SqsError::invalid(format!(
            "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
        ))),
    }
}

pub(super) async fn change_message_visibility(
    app: &App,
    input: &Input,
) -> SqsResult<Map<String, Value>> {
    let name = queue_name(app, input)?;
    let handle = input.required("ReceiptHandle")?;
    let receipt = decode_handle(handle)?;
    let v = visibility_of(&input.fields)?;
    load(app, &name).await?;
    let now = now_ms();
    let outcome = app
        .queue_sends
        .change_visibility(&name, vec![(receipt, now.saturating_add(v * 1000))])
        .await?;
    if let Some(e) = outcome.first().and_then(|o| visibility_error(*o, handle)) {
        return Err(e);
    }
    app.queue_waiters.wake(&name, 1);
    Ok(Map::new())
}

pub(super) async fn change_message_visibility_batch(
    app: &App,
    input: &Input,
) -> SqsResult<Map<String, Value>> {
    let name = queue_name(app, input)?;
    let entries = batch_entries(input, "ChangeMessageVisibilityBatchRequestEntry")?;
    load(app, &name).await?;
    let now = now_ms();
    let mut pending = Vec::new();
    let mut changes = Vec::new();
    let mut failures = Vec::new();
    for e in &entries {
        let checked = str_member(e, "ReceiptHandle").and_then(|h| {
            let h = h
                .filter(|h| !h.is_empty())
                .ok_or_else(|| SqsError::missing("ReceiptHandle"))?;
            Ok((h.to_string(), decode_handle(h)?, visibility_of(e)?))
        });
        match checked {
            Ok((h, r, v)) => {
                pending.push((entry_id(e), h));
                changes.push((r, now.saturating_add(v * 1000)));
            }
            Err(err) => failures.push(failed(entry_id(e), &err)),
        }
    }
    let outcomes = if changes.is_empty() {
        Vec::new()
    } else {
        app.queue_sends.change_visibility(&name, changes).await?
    };
    let mut successful = Vec::new();
    for ((id, handle), outcome) in pending.into_iter().zip(outcomes) {
        match visibility_error(outcome, &handle) {
            None => successful.push(json!({ "Id": id })),
            Some(e) => failures.push(failed(id, &e)),
        }
    }
    app.queue_waiters.wake(&name, successful.len());
    Ok(batch_answer(successful, failures))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_store::queues::MessageRecord;

    #[test]
    fn receipt_handles_round_trip_and_refuse_garbage() {
        let m = StoredMessage {
            id: 42,
            message_id: "m".into(),
            body: "b".into(),
            record: MessageRecord::default(),
            sequence_number: None,
            sent_ms: 0,
            visible_at: 0,
            receive_count: 1,
            first_receive_ms: None,
            receipt: Some("0123456789abcdef0123456789abcdef".into()),
            source_queue: None,
        };
        let r = decode_handle(&encode_handle(&m)).expect("round trip");
        assert_eq!(
            (r.id, r.token.as_str()),
            (42, "0123456789abcdef0123456789abcdef")
        );
        for bad in ["", "nope", "!!!!", &"A".repeat(5000), "NDI6eHl6"] {
            assert_eq!(
                decode_handle(bad).map_err(|e| e.code).err(),
                Some(SqsErrorCode::ReceiptHandleIsInvalid),
                "{bad}"
            );
        }
    }
}
