//! Asynchronous invocation (`InvocationType: Event`): events accepted into the store's durable
//! queue with group commit, and the dispatcher that runs them through the engine's pipeline
//! with Lambda's retry, maximum-age and destination rules.
//!
//! Durability: the 202 is sent only after the event's transaction committed (SQLite WAL with
//! `synchronous=FULL`). One writer task commits whatever arrived while the previous commit
//! was syncing (acceptances, reschedules, deletions), in one transaction: a burst of N
//! concurrent acceptances costs about one fsync, not N. An event leaves the queue only after its outcome was handed on (its destination
//! record stored, or it was rescheduled): a crash at any moment re-runs it (at least once),
//! never loses it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use nimbus_engine::{InvocationOutcome, InvocationRequest, InvocationType, InvokeError, LogType};
use nimbus_engine::{RequestId, ResolveError};
use nimbus_model::event_invoke::{
    payload_value, record_timestamp, Condition, DestinationTarget, EventInvokeConfig,
    InvocationRecord, RequestContext, ResponseContext,
};
use nimbus_model::{function_arn, ErrorCode};
use nimbus_store::{Claim, EventStore, EventWrites, NewEvent, Reschedule, StoreError, StoredEvent};
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};

use crate::app::{now_ms, App};

/// Most events one commit takes (a burst beyond waits for the next).
const MAX_BATCH: usize = 4096;
/// Most events one claim takes.
const MAX_CLAIM: usize = 256;
/// How long the dispatcher sleeps at most when nothing wakes it.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// AWS compat: throttles and system errors back off from 1 s, doubling, to 5 minutes.
const BACKOFF_START_MS: i64 = 1_000;
const BACKOFF_MAX_MS: i64 = 300_000;

/// What the writer task is handed.
enum Op {
    /// Events to store; the answer once they are committed.
    Enqueue(Vec<NewEvent>, oneshot::Sender<Result<(), Arc<StoreError>>>),
    /// A claimed event back to the queue (nobody waits: until it commits the event stays
    /// claimed, and a crash before then releases it at start-up).
    Reschedule(Reschedule),
    /// An event done with (a crash before it commits runs the event again: at least once).
    Delete(i64),
    /// The dispatcher's claim of up to this many due events, made in the batch's transaction.
    Claim(usize, oneshot::Sender<Vec<StoredEvent>>),
}

/// Why an event was not stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnqueueError {
    /// The queue holds its limit of events already.
    #[error("the queue holds its limit of {0} events")]
    Full(u64),
    /// The store failed (or the writer stopped).
    #[error(transparent)]
    Store(Arc<StoreError>),
}

/// The one writer of the queue: events accepted, rescheduled and finished are committed
/// together, in one transaction per batch.
pub(crate) struct EventQueue {
    tx: mpsc::Sender<Op>,
    /// Woken after a commit that stored or returned events, and whenever a dispatch slot frees.
    pub(crate) wake: Arc<Notify>,
    /// Events stored and not yet done with (as the writer counts them).
    pending: Arc<AtomicU64>,
    /// The most the queue takes: a flood of events cannot fill the disk.
    limit: u64,
}

impl EventQueue {
    /// Starts the group-commit writer over `store`, which holds `pending` events; it takes
    /// at most `limit`.
    pub(crate) fn spawn(
        store: Arc<dyn EventStore>,
        pending: u64,
        limit: u64,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        let (tx, mut rx) = mpsc::channel::<Op>(MAX_BATCH);
        let wake = Arc::new(Notify::new());
        let woken = Arc::clone(&wake);
        let pending = Arc::new(AtomicU64::new(pending));
        let count = Arc::clone(&pending);
        tokio::spawn(async move {
            // Reschedules and deletions of a batch that failed, tried again with the next.
            let mut carried = EventWrites::default();
            while let Some(first) = rx.recv().await {
                let mut writes = std::mem::take(&mut carried);
                let mut waiting = Vec::new();
                let mut claimer = None;
                let mut next = Some(first);
                let mut n = 0;
                while let Some(op) = next.take() {
                    match op {
                        Op::Enqueue(events, done) => {
                            n += events.len();
                            writes.enqueue.extend(events);
                            waiting.push(done);
                        }
                        Op::Reschedule(r) => writes.reschedule.push(r),
                        Op::Delete(id) => writes.delete.push(id),
                        Op::Claim(limit, reply) => {
                            let total = writes.claim.map_or(0, |c| c.limit) + limit;
                            writes.claim = Some(Claim {
                                now_ms: now_ms(),
                                limit: total,
                            });
                            claimer = Some(reply);
                        }
                    }
                    n += 1;
                    if n < MAX_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                let began = std::time::Instant::now();
                let result = store.write_events(&writes).await.map_err(Arc::new);
                metrics.store_commit(crate::metrics::StoreWriter::Events, began.elapsed());
                tracing::trace!(
                    enqueued = writes.enqueue.len(),
                    rescheduled = writes.reschedule.len(),
                    deleted = writes.delete.len(),
                    claimed = result.as_ref().map_or(0, Vec::len),
                    took_us = began.elapsed().as_micros() as u64,
                    "event queue batch committed"
                );
                let claimed = match &result {
                    Ok(c) => c.clone(),
                    Err(_) => Vec::new(),
                };
                let result = result.map(drop);
                let wake_dispatcher = !writes.enqueue.is_empty() || !writes.reschedule.is_empty();
                if let Some(reply) = claimer {
                    let _ = reply.send(claimed);
                }
                if result.is_ok() {
                    let added = writes.enqueue.len() as u64;
                    let removed = writes.delete.len() as u64;
                    let _ = count.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                        Some((n + added).saturating_sub(removed))
                    });
                }
                if let Err(e) = &result {
                    tracing::error!(error = %e, events = writes.enqueue.len(), "event queue write failed");
                    carried.reschedule = writes.reschedule;
                    carried.delete = writes.delete;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                for done in waiting {
                    let _ = done.send(result.clone());
                }
                // New or returned events may be due; a batch that only claimed or deleted
                // gives the dispatcher nothing new (waking it would spin).
                if wake_dispatcher {
                    woken.notify_one();
                }
            }
        });
        Self {
            tx,
            wake,
            pending,
            limit,
        }
    }

    /// Stores `events`; returns once they are committed.
    pub(crate) async fn enqueue(&self, events: Vec<NewEvent>) -> Result<(), EnqueueError> {
        if self.pending.load(Ordering::SeqCst) >= self.limit {
            return Err(EnqueueError::Full(self.limit));
        }
        let (done, wait) = oneshot::channel();
        let gone = || EnqueueError::Store(Arc::new(StoreError::Closed("event writer")));
        self.tx
            .send(Op::Enqueue(events, done))
            .await
            .map_err(|_| gone())?;
        wait.await.map_err(|_| gone())?.map_err(EnqueueError::Store)
    }

    /// Events stored and not yet done with.
    pub(crate) fn pending(&self) -> u64 {
        self.pending.load(Ordering::SeqCst)
    }

    /// Whether the queue holds its limit of events.
    pub(crate) fn is_full(&self) -> bool {
        self.pending.load(Ordering::SeqCst) >= self.limit
    }

    /// Counts `n` events another transaction stored (a schedule's firing) and wakes the
    /// dispatcher for them.
    pub(crate) fn stored_elsewhere(&self, n: u64) {
        self.pending.fetch_add(n, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Claims up to `limit` due events (none if the writer has stopped).
    async fn claim(&self, limit: usize) -> Vec<StoredEvent> {
        let (reply, wait) = oneshot::channel();
        if self.tx.send(Op::Claim(limit, reply)).await.is_err() {
            return Vec::new();
        }
        wait.await.unwrap_or_default()
    }

    async fn send(&self, op: Op) {
        if self.tx.send(op).await.is_err() {
            tracing::warn!("event writer stopped: the event is released at the next start");
        }
    }
}

/// How the dispatcher runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DispatchConfig {
    /// Before the first retry of a function error; the second waits twice this.
    pub(crate) retry_delay: Duration,
    /// Most dispatches at once.
    pub(crate) max_in_flight: u32,
}

/// Starts the dispatcher: claims due events and runs each through the pipeline, at most
/// `max_in_flight` at once.
pub(crate) fn spawn_dispatcher(app: Arc<App>, config: DispatchConfig) {
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(config.max_in_flight as usize));
        let wake = Arc::clone(&app.event_queue.wake);
        loop {
            if slots.available_permits() == 0 {
                // Every slot is busy: the next to free one wakes us.
                let _ = slots.acquire().await;
            }
            let free = slots.available_permits().min(MAX_CLAIM);
            // The claim rides in the writer's next transaction (its fsync is shared).
            let claimed = app.event_queue.claim(free).await;
            let full = claimed.len() == free;
            for event in claimed {
                let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let app = Arc::clone(&app);
                tokio::spawn(async move {
                    dispatch(&app, config, event).await;
                    drop(permit);
                    app.event_queue.wake.notify_one();
                });
            }
            if full {
                continue;
            }
            let wait = match app.events.next_event_due().await {
                Ok(Some(due)) => Duration::from_millis(
                    u64::try_from((due - now_ms()).clamp(0, 1_000)).unwrap_or(1_000),
                ),
                _ => IDLE_POLL,
            };
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    });
}

/// What became of one dispatch.
enum Next {
    /// Done: the record (if any) goes to `OnSuccess`.
    Succeeded(InvocationOutcome),
    /// Given up: the record goes to `OnFailure`, the payload to the dead-letter queue.
    Failed(Condition, Option<InvocationOutcome>),
    /// Back to the queue until `due_ms`.
    Retry {
        due_ms: i64,
        attempts: u32,
        throttles: u32,
    },
    /// The function (or its version or alias) is gone: nothing can run it.
    Dropped,
}

/// Runs one claimed event and hands its outcome on.
async fn dispatch(app: &App, config: DispatchConfig, ev: StoredEvent) {
    let e = &ev.event;
    let qualifier = if e.qualifier.is_empty() {
        "$LATEST"
    } else {
        e.qualifier.as_str()
    };
    let settings = match app
        .events
        .get_event_invoke_config(&e.function, qualifier)
        .await
    {
        Ok(c) => c,
        Err(err) => {
            tracing::error!(error = %err, request_id = %e.request_id, "read event invoke config");
            retry_later(app, &ev, BACKOFF_START_MS).await;
            return;
        }
    };
    let retries = settings.as_ref().map_or(
        nimbus_model::event_invoke::DEFAULT_MAXIMUM_RETRY_ATTEMPTS,
        EventInvokeConfig::retries,
    );
    let max_age = settings.as_ref().map_or(
        nimbus_model::event_invoke::DEFAULT_MAXIMUM_EVENT_AGE_SECONDS,
        EventInvokeConfig::max_age_seconds,
    );
    let expires_ms = e.enqueued_ms + i64::from(max_age) * 1_000;
    let age_ms = u64::try_from(now_ms().saturating_sub(e.enqueued_ms)).unwrap_or(0);
    app.metrics
        .event_dispatched(&e.function, std::time::Duration::from_millis(age_ms));
    let next = if now_ms() >= expires_ms {
        Next::Failed(Condition::EventAgeExceeded, None)
    } else {
        run(app, config, &ev, retries, expires_ms).await
    };
    let done = match next {
        Next::Retry {
            due_ms,
            attempts,
            throttles,
        } => {
            // Due no later than its expiry, when it is given up.
            let due_ms = due_ms.min(expires_ms);
            app.event_queue
                .send(Op::Reschedule(Reschedule {
                    id: ev.id,
                    due_ms,
                    attempts,
                    throttles,
                }))
                .await;
            return;
        }
        Next::Dropped => {
            tracing::warn!(function = %e.function, qualifier, request_id = %e.request_id,
                "asynchronous event dropped: the function is gone");
            app.metrics.event_dropped(&e.function);
            true
        }
        Next::Succeeded(outcome) => {
            let target = settings.as_ref().and_then(|s| s.on_success.as_deref());
            let handed = hand_on(
                app,
                &ev,
                qualifier,
                target,
                Condition::Success,
                Some(&outcome),
            )
            .await;
            if !handed {
                app.metrics.destination_failure(&e.function);
            }
            handed
        }
        Next::Failed(condition, outcome) => {
            let target = settings.as_ref().and_then(|s| s.on_failure.as_deref());
            tracing::info!(function = %e.function, request_id = %e.request_id, ?condition,
                attempts = ev.attempts, "asynchronous invocation failed");
            let handed = hand_on(app, &ev, qualifier, target, condition, outcome.as_ref()).await;
            if !handed {
                app.metrics.destination_failure(&e.function);
            }
            let done = handed && {
                let sent = dead_letter(app, &ev, qualifier, outcome.as_ref()).await;
                if !sent {
                    app.metrics.dead_letter_error(&e.function);
                }
                sent
            };
            if done {
                app.metrics.event_dropped(&e.function);
            }
            done
        }
    };
    if done {
        app.event_queue.send(Op::Delete(ev.id)).await;
    } else {
        retry_later(app, &ev, BACKOFF_START_MS).await;
    }
}

/// The invocation, and what it means for the event.
async fn run(
    app: &App,
    config: DispatchConfig,
    ev: &StoredEvent,
    retries: u32,
    expires_ms: i64,
) -> Next {
    let e = &ev.event;
    let req = InvocationRequest {
        function: e.function.clone(),
        qualifier: (!e.qualifier.is_empty()).then(|| e.qualifier.clone()),
        region: e.region.clone(),
        request_id: RequestId::new(e.request_id.as_str()),
        payload: Bytes::from(e.payload.clone()),
        invocation_type: InvocationType::Event,
        client_context: e.client_context.clone(),
        log_type: LogType::None,
        trace_header: e.trace_header.clone(),
        deadline: None,
        stream: None,
    };
    let backoff = || {
        let ms = BACKOFF_START_MS
            .saturating_mul(1_i64 << ev.throttles.min(20))
            .min(BACKOFF_MAX_MS);
        Next::Retry {
            due_ms: now_ms() + ms,
            attempts: ev.attempts,
            throttles: ev.throttles + 1,
        }
    };
    match app.engine.invoke(req).await {
        Ok(outcome) if outcome.function_error.is_none() => Next::Succeeded(outcome),
        Ok(outcome) => {
            let attempts = ev.attempts + 1;
            if attempts > retries {
                return Next::Failed(Condition::RetriesExhausted, Some(outcome));
            }
            let delay = config.retry_delay.saturating_mul(attempts);
            let due_ms = now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
            if due_ms >= expires_ms {
                return Next::Failed(Condition::EventAgeExceeded, Some(outcome));
            }
            Next::Retry {
                due_ms,
                attempts,
                throttles: ev.throttles,
            }
        }
        Err(InvokeError::Resolve(ResolveError::Lambda(l)))
            if l.code == ErrorCode::ResourceNotFound =>
        {
            Next::Dropped
        }
        Err(InvokeError::InvalidPayload(detail)) => {
            // Accepted payloads are JSON; a stored one that is not can never run.
            tracing::error!(request_id = %e.request_id, detail, "stored event is not JSON");
            Next::Failed(Condition::RetriesExhausted, None)
        }
        Err(err) => {
            // Throttles, a function not Active yet, no capacity, launch failures: the
            // platform's, not the function's; the event waits and tries again.
            tracing::debug!(request_id = %e.request_id, error = %err, "asynchronous invocation deferred");
            backoff()
        }
    }
}

async fn retry_later(app: &App, ev: &StoredEvent, ms: i64) {
    app.event_queue
        .send(Op::Reschedule(Reschedule {
            id: ev.id,
            due_ms: now_ms() + ms,
            attempts: ev.attempts,
            throttles: ev.throttles,
        }))
        .await;
}

/// Sends `body` to the queue `arn`; whether the event is done with (a queue that is gone
/// cannot take it ever: logged and done; a store failure: not done, tried again).
async fn to_queue(
    app: &App,
    arn: &str,
    request_id: &str,
    body: String,
    attributes: Vec<(String, crate::sqs::MessageAttributeValue)>,
) -> bool {
    match crate::sqs::send_internal(app, arn, body, attributes).await {
        Ok(_) => true,
        Err(err) if err.code == crate::sqs::SqsErrorCode::Internal => {
            tracing::error!(error = %err.message, arn, request_id, "store a record in its queue");
            false
        }
        Err(err) => {
            tracing::warn!(error = %err.message, arn, request_id,
                "the queue refused the record: dropped");
            true
        }
    }
}

/// AWS compat: the longest `ErrorMessage` attribute of a dead-letter message.
const MAX_DLQ_ERROR_MESSAGE: usize = 1024;

/// The event's payload to the dead-letter queue of the function version that failed it (its
/// `DeadLetterConfig`), with Lambda's attributes `RequestID`, `ErrorCode`, `ErrorMessage`.
async fn dead_letter(
    app: &App,
    ev: &StoredEvent,
    qualifier: &str,
    outcome: Option<&InvocationOutcome>,
) -> bool {
    let e = &ev.event;
    // The version that failed it (its own configuration), or, never run, the one invoked.
    let version = outcome.map_or(qualifier, |o| o.executed_version.as_str());
    let f = match app.store.get_function(&e.function).await {
        Ok(Some(latest)) => crate::api::version_record(app, &latest, Some(version)).await,
        other => other,
    };
    let target = match f {
        Ok(Some(f)) => f.settings.dead_letter_target,
        Ok(None) => None,
        Err(err) => {
            tracing::error!(error = %err, request_id = %e.request_id, "read the dead-letter target");
            return false;
        }
    };
    let Some(target) = target else {
        return true;
    };
    let message = outcome
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.payload).ok())
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Event age exceeded the function's maximum event age".to_string());
    let mut cut = message.len().min(MAX_DLQ_ERROR_MESSAGE);
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    let attr = |data_type: &str, value: String| crate::sqs::MessageAttributeValue {
        data_type: data_type.to_string(),
        string_value: Some(value),
        binary_value: None,
    };
    let status = outcome.map_or(429, |o| o.status);
    let attributes = vec![
        (
            "RequestID".to_string(),
            attr("String", e.request_id.clone()),
        ),
        ("ErrorCode".to_string(), attr("Number", status.to_string())),
        (
            "ErrorMessage".to_string(),
            attr("String", message[..cut].to_string()),
        ),
    ];
    match DestinationTarget::parse(&target) {
        Some(DestinationTarget::Queue { .. }) => {
            let body = String::from_utf8_lossy(&e.payload).into_owned();
            to_queue(app, &target, &e.request_id, body, attributes).await
        }
        _ => {
            tracing::warn!(target, request_id = %e.request_id,
                "dead-letter target of a kind Nimbus does not deliver to: event dropped");
            true
        }
    }
}

/// Destination records in a row after which a loop is stopped.
const MAX_CHAIN: u32 = 16;

/// Whether function `name` lets recursive loops run (`PutFunctionRecursionConfig` Allow).
async fn allows_loops(app: &App, name: &str) -> bool {
    matches!(
        app.store.get_function(name).await,
        Ok(Some(f)) if f.recursive_loop.as_deref() == Some("Allow")
    )
}

/// Sends the invocation record to `target`, if any; whether the event is done with (false:
/// the record could not be stored, so the event stays for another try).
async fn hand_on(
    app: &App,
    ev: &StoredEvent,
    qualifier: &str,
    target: Option<&str>,
    condition: Condition,
    outcome: Option<&InvocationOutcome>,
) -> bool {
    let Some(target) = target else {
        return true;
    };
    let e = &ev.event;
    let invoked = u32::from(outcome.is_some()) + ev.attempts;
    let record = InvocationRecord {
        version: "1.0",
        timestamp: record_timestamp(now_ms()),
        request_context: RequestContext {
            request_id: e.request_id.clone(),
            function_arn: format!(
                "{}:{qualifier}",
                function_arn(&e.region, &app.account, &e.function)
            ),
            condition,
            approximate_invoke_count: invoked,
        },
        request_payload: payload_value(&e.payload),
        response_context: outcome.map(|o| ResponseContext {
            status_code: o.status,
            executed_version: o.executed_version.clone(),
            function_error: o.function_error.map(|f| f.as_str().to_string()),
        }),
        response_payload: outcome.map(|o| payload_value(&o.payload)),
    };
    let body = match serde_json::to_vec(&record) {
        Ok(b) => b,
        Err(err) => {
            tracing::error!(error = %err, "encode invocation record");
            return true;
        }
    };
    match DestinationTarget::parse(target) {
        Some(DestinationTarget::Function { name, qualifier }) => {
            let chain = e.chain + 1;
            if chain > MAX_CHAIN && !allows_loops(app, &name).await {
                // AWS compat: Lambda stops a recursive loop after about 16 invocations.
                tracing::warn!(target, request_id = %e.request_id, chain,
                    "a loop of destinations: record dropped (the function's recursive loop setting is Terminate)");
                return true;
            }
            let next = NewEvent {
                function: name,
                qualifier: qualifier.unwrap_or_default(),
                region: e.region.clone(),
                request_id: uuid::Uuid::new_v4().to_string(),
                payload: body,
                client_context: None,
                trace_header: None,
                enqueued_ms: now_ms(),
                chain,
            };
            match app.event_queue.enqueue(vec![next]).await {
                Ok(()) => true,
                Err(err) => {
                    tracing::error!(error = %err, target, "store destination record");
                    false
                }
            }
        }
        Some(DestinationTarget::Queue { .. }) => {
            let body = String::from_utf8_lossy(&body).into_owned();
            to_queue(app, target, &e.request_id, body, Vec::new()).await
        }
        None => {
            tracing::warn!(target, request_id = %e.request_id,
                "destination of a kind Nimbus does not deliver to: record dropped");
            true
        }
    }
}

/// `GET /_nimbus/async`: how many asynchronous events are queued (waiting, or being
/// dispatched), for operators and benchmarks.
pub(crate) async fn status(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
) -> crate::error::ApiResult<axum::response::Response> {
    let pending = app.events.count_events(None).await?;
    Ok(crate::api::json(
        axum::http::StatusCode::OK,
        &serde_json::json!({ "PendingEvents": pending }),
    ))
}
