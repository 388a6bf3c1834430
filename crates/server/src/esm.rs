//! Event source mappings of SQS queues: pollers that receive batches from a queue of Nimbus's
//! queue service, filter them, invoke the function synchronously through the pipeline, and
//! delete what it processed, with Lambda's rules.
//!
//! - A batch is up to `BatchSize` messages, gathered for at most
//!   `MaximumBatchingWindowInSeconds` (long polls in between, woken by sends), and never more
//!   than fits in one invocation's 6 MB payload (what does not fit is returned at once).
//! - Messages no filter matches are deleted unprocessed (as Lambda does).
//! - Success: the batch is deleted. A function error (or a throttle, or a platform failure):
//!   nothing is deleted; the messages come back after the queue's visibility timeout, and the
//!   queue's redrive policy moves those received `maxReceiveCount` times to its dead-letter
//!   queue. With `ReportBatchItemFailures`, the items the function names stay and the rest are
//!   deleted; an answer Lambda could not read fails the whole batch.
//! - `ScalingConfig.MaximumConcurrency` pollers per mapping (default 5), each one batch at a
//!   time: at most that many invocations of the mapping run at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use base64::Engine as _;
use nimbus_engine::{InvocationRequest, InvocationType, LogType, RequestId};
use nimbus_model::esm::{read_batch_response, BatchResponse, EventSourceMapping};
use nimbus_store::queues::{DeadLetter, Receipt, Receive, StoredMessage};
use serde_json::{json, Map, Value};
use tokio::task::AbortHandle;

use crate::app::{now_ms, App};

/// The running pollers, by mapping.
#[derive(Default)]
pub(crate) struct Pollers {
    running: Mutex<HashMap<String, Vec<AbortHandle>>>,
}

impl Pollers {
    /// Stops the pollers of mapping `uuid`.
    pub(crate) fn stop(&self, uuid: &str) {
        let handles = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(uuid);
        for h in handles.into_iter().flatten() {
            h.abort();
        }
    }
}

/// Starts (or restarts) the pollers of `m` if it is enabled, stops them if not; then records
/// the state the transition ends in.
pub(crate) async fn sync(app: &Arc<App>, m: &EventSourceMapping) {
    app.pollers.stop(&m.uuid);
    if m.enabled {
        let handles: Vec<AbortHandle> = (0..m.concurrency())
            .map(|_| {
                let (app2, uuid) = (Arc::clone(app), m.uuid.clone());
                tokio::spawn(async move { poll(app2, uuid).await }).abort_handle()
            })
            .collect();
        app.pollers
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(m.uuid.clone(), handles);
    }
    let settled = if m.enabled { "Enabled" } else { "Disabled" };
    if m.state != settled {
        // Only if nothing changed it meanwhile.
        if let Ok(Some(mut now)) = app.events.get_mapping(&m.uuid).await {
            if now.state == m.state {
                now.state = settled.to_string();
                if let Err(e) = app.events.put_mapping(&now).await {
                    tracing::warn!(uuid = %m.uuid, error = %e, "record mapping state");
                }
            }
        }
    }
}

/// At start-up: every stored mapping's pollers, and unfinished transitions finished.
pub(crate) async fn start_all(app: &Arc<App>) -> Result<(), nimbus_store::StoreError> {
    let mut after: Option<String> = None;
    loop {
        let page = app
            .events
            .list_mappings(None, None, after.as_deref(), 100)
            .await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = Some(last.uuid.clone());
        for m in &page {
            sync(app, m).await;
        }
    }
}

/// Why a poller ends: its mapping is gone (deleted, or with its function) or disabled.
const GONE: &str = "the mapping is gone";

/// One poller of mapping `uuid`, until it is stopped or the mapping is gone.
async fn poll(app: Arc<App>, uuid: String) {
    loop {
        match poll_once(&app, &uuid).await {
            Ok(true) => {}
            Ok(false) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(why) if why == GONE => return,
            Err(why) => {
                tracing::debug!(uuid, why, "event source mapping: nothing polled");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// The longest a receive waits for a message when the batch is empty.
const LONG_POLL: Duration = Duration::from_secs(20);

/// Gathers, filters and runs one batch; whether it found any message.
async fn poll_once(app: &Arc<App>, uuid: &str) -> Result<bool, String> {
    let m = app
        .events
        .get_mapping(uuid)
        .await
        .map_err(|e| e.to_string())?
        // A disabled mapping's pollers end too (even one a racing restart left behind).
        .filter(|m| m.enabled)
        .ok_or(GONE)?;
    let queue = crate::sqs::queue_of_arn(app, &m.source_arn)
        .ok_or("not a queue of this server")?
        .to_string();
    let window = Duration::from_secs(u64::from(m.batching_window_seconds));
    let started = tokio::time::Instant::now();
    let mut batch: Vec<StoredMessage> = Vec::new();
    let mut bytes = 0;
    loop {
        let q = app
            .queue_store
            .get_queue(&queue)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the queue does not exist")?;
        let s = crate::sqs::attributes::settings(app, &q);
        let notify = app.queue_waiters.of(&queue);
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let r = Receive {
            // Ten at a time, as SQS receives: a batch overshoots its payload limit by little.
            max: (m.batch_size as usize).saturating_sub(batch.len()).min(10),
            visibility_ms: s.visibility_timeout * 1000,
            now_ms: now_ms(),
            retention_ms: s.retention_seconds * 1000,
            fifo: s.fifo,
            dead_letter: s.redrive.as_ref().map(|r| DeadLetter {
                queue: r.dead_letter_queue.clone(),
                max_receive_count: r.max_receive_count,
            }),
        };
        let got = app
            .queue_store
            .receive_messages(&queue, &r)
            .await
            .map_err(|e| e.to_string())?;
        if got.moved_to_dead_letter > 0 {
            if let Some(r) = &s.redrive {
                app.queue_waiters.wake(
                    &r.dead_letter_queue,
                    usize::try_from(got.moved_to_dead_letter).unwrap_or(10),
                );
            }
        }
        let empty = got.messages.is_empty();
        let mut full = false;
        let mut overflow = Vec::new();
        for msg in got.messages {
            let size = record_size(&msg);
            if !batch.is_empty() && bytes + size > MAX_BATCH_BYTES {
                full = true;
                overflow.push((receipt(&msg), now_ms()));
            } else {
                bytes += size;
                batch.push(msg);
            }
        }
        if !overflow.is_empty() {
            // What does not fit goes back at once, for the next batch.
            if let Err(e) = app
                .queue_store
                .change_visibility(&queue, &overflow, now_ms())
                .await
            {
                tracing::warn!(uuid, error = %e, "return messages over the batch's payload limit");
            }
            app.queue_waiters.wake(&queue, overflow.len());
        }
        let waited = started.elapsed();
        if full || batch.len() >= m.batch_size as usize || (!batch.is_empty() && waited >= window) {
            break;
        }
        // Wait for more: until the window closes (a batch begun), or a long poll's time.
        let left = if batch.is_empty() {
            LONG_POLL
        } else {
            window.saturating_sub(waited)
        };
        let until_visible = got
            .next_visible_ms
            .map(|t| Duration::from_millis(u64::try_from(t - now_ms()).unwrap_or(0)));
        let wait = until_visible.map_or(left, |v| v.min(left));
        if !empty && wait.is_zero() {
            continue;
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
        }
        if batch.is_empty() && started.elapsed() >= LONG_POLL {
            return Ok(false);
        }
    }
    run_batch(app, &m, &queue, batch).await;
    Ok(true)
}

/// AWS compat: a batch stops growing before its event passes the invocation payload limit
/// (6 MB), with room for the JSON around the records.
const MAX_BATCH_BYTES: usize = 6_291_456 - 65_536;

/// About what message `msg` adds to a batch's event: its body and attributes, escaped, and
/// the record's other members.
fn record_size(msg: &StoredMessage) -> usize {
    let attributes: usize = msg
        .record
        .attributes
        .iter()
        .map(|(k, v)| {
            k.len()
                + v.string_value.as_ref().map_or(0, String::len) * 2
                + v.binary_value.as_ref().map_or(0, |b| b.len() * 4 / 3 + 4)
                + 96
        })
        .sum();
    // JSON escaping can double a body; a record's fixed members take about 1 KB.
    msg.body.len() * 2 + attributes + 1024
}

/// Lambda's SQS record of message `msg`.
fn record(m: &EventSourceMapping, region: &str, msg: &StoredMessage) -> Value {
    let mut attributes = Map::new();
    attributes.insert(
        "ApproximateReceiveCount".into(),
        json!(msg.receive_count.to_string()),
    );
    attributes.insert("SentTimestamp".into(), json!(msg.sent_ms.to_string()));
    attributes.insert("SenderId".into(), json!(msg.record.sender_id));
    attributes.insert(
        "ApproximateFirstReceiveTimestamp".into(),
        json!(msg.first_receive_ms.unwrap_or(msg.sent_ms).to_string()),
    );
    if let Some(t) = &msg.record.trace_header {
        attributes.insert("AWSTraceHeader".into(), json!(t));
    }
    if let Some(n) = msg.sequence_number {
        attributes.insert("SequenceNumber".into(), json!(n.to_string()));
    }
    if let Some(g) = &msg.record.group_id {
        attributes.insert("MessageGroupId".into(), json!(g));
    }
    if let Some(d) = &msg.record.dedup_id {
        attributes.insert("MessageDeduplicationId".into(), json!(d));
    }
    let message_attributes: Map<String, Value> = msg
        .record
        .attributes
        .iter()
        .map(|(k, v)| {
            let mut a = Map::new();
            if let Some(s) = &v.string_value {
                a.insert("stringValue".into(), json!(s));
            }
            if let Some(b) = &v.binary_value {
                a.insert(
                    "binaryValue".into(),
                    json!(base64::engine::general_purpose::STANDARD.encode(b)),
                );
            }
            a.insert("stringListValues".into(), json!([]));
            a.insert("binaryListValues".into(), json!([]));
            a.insert("dataType".into(), json!(v.data_type));
            (k.clone(), Value::Object(a))
        })
        .collect();
    let mut r = json!({
        "messageId": msg.message_id,
        "receiptHandle": crate::sqs::encode_handle(msg),
        "body": msg.body,
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": msg.record.md5_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": m.source_arn,
        "awsRegion": region,
    });
    if let Some(md5) = &msg.record.md5_attributes {
        r["md5OfMessageAttributes"] = json!(md5);
    }
    r
}

/// What Lambda filters an SQS record by: the record, its body parsed when it is JSON.
fn filter_view(record: &Value) -> Value {
    let mut v = record.clone();
    if let Some(body) = record["body"].as_str() {
        if let Ok(parsed @ Value::Object(_)) = serde_json::from_str::<Value>(body) {
            v["body"] = parsed;
        }
    }
    v
}

/// Runs one batch and deletes what it processed.
async fn run_batch(app: &Arc<App>, m: &EventSourceMapping, queue: &str, batch: Vec<StoredMessage>) {
    let region = m
        .source_arn
        .split(':')
        .nth(3)
        .unwrap_or("us-east-1")
        .to_string();
    let patterns = nimbus_model::filter::compile_filters(&m.filters).unwrap_or_default();
    let mut done: Vec<Receipt> = Vec::new();
    let mut records = Vec::new();
    let mut kept: Vec<&StoredMessage> = Vec::new();
    for msg in &batch {
        let r = record(m, &region, msg);
        if patterns.is_empty() || nimbus_model::filter::matches_any(&patterns, &filter_view(&r)) {
            records.push(r);
            kept.push(msg);
        } else {
            done.push(receipt(msg));
        }
    }
    if !records.is_empty() {
        let payload = json!({ "Records": records }).to_string();
        let req = InvocationRequest {
            function: m.function.clone(),
            qualifier: m.qualifier.clone(),
            region,
            request_id: RequestId::new(uuid::Uuid::new_v4().to_string()),
            payload: Bytes::from(payload),
            invocation_type: InvocationType::RequestResponse,
            client_context: None,
            log_type: LogType::None,
            trace_header: None,
            deadline: None,
            stream: None,
        };
        match app.engine.invoke(req).await {
            Ok(o) if o.function_error.is_none() => {
                let failed = if m.report_batch_item_failures {
                    let ids: Vec<&str> = kept.iter().map(|k| k.message_id.as_str()).collect();
                    match read_batch_response(&o.payload, &ids) {
                        BatchResponse::AllSucceeded => Vec::new(),
                        BatchResponse::Failed(f) => f,
                        BatchResponse::AllFailed => ids.iter().map(|s| s.to_string()).collect(),
                    }
                } else {
                    Vec::new()
                };
                done.extend(
                    kept.iter()
                        .filter(|k| !failed.contains(&k.message_id))
                        .map(|k| receipt(k)),
                );
            }
            Ok(_) => {
                tracing::debug!(uuid = %m.uuid, "batch failed: its messages come back after the visibility timeout");
            }
            Err(e) => {
                tracing::debug!(uuid = %m.uuid, error = %e, "batch not run: its messages come back after the visibility timeout");
            }
        }
    }
    if !done.is_empty() {
        if let Err(e) = app.queue_store.delete_messages(queue, &done).await {
            tracing::warn!(uuid = %m.uuid, error = %e, "delete processed messages: they will be processed again");
        }
        // A FIFO group whose messages left may deliver its next.
        app.queue_waiters.wake(queue, done.len());
    }
}

fn receipt(m: &StoredMessage) -> Receipt {
    Receipt {
        id: m.id,
        token: m.receipt.clone().unwrap_or_default(),
    }
}
