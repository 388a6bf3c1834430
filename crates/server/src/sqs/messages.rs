//! The message operations: SendMessage(Batch), ReceiveMessage (long polls included),
//! DeleteMessage(Batch), ChangeMessageVisibility(Batch); and [`send_internal`], through which
//! the server itself sends (async invocation destinations, dead-letter queues).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use base64::Engine as _;
use nimbus_store::queues::{
    DeadLetter, MessageAttributeValue, MessageRecord, NewMessage, Receipt, Receive, Sent,
    StoredMessage, VisibilityChange,
};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::attributes::{self, check_characters, md5_hex, md5_of_attributes, Settings};
use super::queues::load;
use super::{
    int_member, queue_arn, queue_name, queue_of_arn, str_member, Input, SqsError, SqsErrorCode,
    SqsResult,
};
use crate::app::{now_ms, App};
use crate::request::Ctx;
use crate::sessions::Principal;

/// AWS compat: the most entries a batch takes.
const MAX_BATCH: usize = 10;

/// The longest a receive may wait, and the longest visibility timeout.
const MAX_WAIT_SECONDS: i64 = 20;
const MAX_VISIBILITY_SECONDS: i64 = 43_200;

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
fn sequence_number(n: i64) -> String {
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
fn batch_entries<'a>(input: &'a Input, entry_name: &str) -> SqsResult<Vec<&'a Map<String, Value>>> {
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

fn entry_id(e: &Map<String, Value>) -> String {
    e.get("Id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// A failed batch entry.
fn failed(id: String, e: &SqsError) -> Value {
    let (_, code, status) = e.code.shape();
    json!({ "Id": id, "SenderFault": status < 500, "Code": code, "Message": e.message })
}

fn batch_answer(successful: Vec<Value>, failures: Vec<Value>) -> Map<String, Value> {
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

/// Receipt handles: base64 of the message's store id and its receive's token.
fn encode_handle(m: &StoredMessage) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
