//! Function logs: the engine's events written to the store in batches, off the invocation path,
//! read back by `nimbus logs`, and expired after the retention period.
//!
//! Durability: an invocation never waits for its logs. The writer task commits whatever has
//! gathered within 50 ms (up to 5,000 events) in one transaction, so one fsync (SQLite WAL
//! with `synchronous=FULL`) covers many invocations; at a clean shutdown the server flushes the
//! writer before it exits, so nothing handed over is lost. A crash may lose the events of the
//! last moments that were not yet committed (as a crashed Lambda host loses its agent's buffer).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use nimbus_engine::logs::{LogEvent, LogSink};
use nimbus_store::{LogRecord, Store};
use serde_json::json;
use tokio::sync::mpsc;

use crate::api::{json, query_pairs, query_param};
use crate::app::{now_ms, App};
use crate::error::ApiResult;

enum Message {
    Records(Vec<LogRecord>),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Hands log events to a writer task; never blocks an invocation.
pub(crate) struct StoreLogs {
    tx: mpsc::Sender<Message>,
    metrics: Arc<crate::metrics::Metrics>,
}

/// The writer task's handle, for flushing at shutdown.
pub(crate) struct LogWriter {
    tx: mpsc::Sender<Message>,
}

impl LogWriter {
    /// Waits until everything sent before this call is stored.
    pub(crate) async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

impl LogSink for StoreLogs {
    fn write(&self, group: &str, stream: &str, events: Vec<LogEvent>) {
        if events.is_empty() {
            return;
        }
        let records = events
            .into_iter()
            .map(|e| LogRecord {
                id: 0,
                group: group.to_string(),
                stream: stream.to_string(),
                timestamp_ms: e.timestamp_ms,
                message: e.message,
            })
            .collect();
        if let Err(e) = self.tx.try_send(Message::Records(records)) {
            if let mpsc::error::TrySendError::Full(Message::Records(r))
            | mpsc::error::TrySendError::Closed(Message::Records(r)) = e
            {
                self.metrics.log_events_dropped(r.len());
            }
            tracing::warn!(group, "log writer is behind: events dropped");
        }
    }
}

/// How long the writer gathers events before it commits them.
const LINGER: Duration = Duration::from_millis(50);

/// Starts the writer task for `store`.
pub(crate) fn spawn_writer(
    store: Arc<dyn Store>,
    metrics: Arc<crate::metrics::Metrics>,
) -> (LogWriter, StoreLogs) {
    let timings = Arc::clone(&metrics);
    let (tx, mut rx) = mpsc::channel::<Message>(8192);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = Vec::new();
            let mut flushes = Vec::new();
            let mut next = Some(first);
            // Gather for a moment: one transaction (one fsync) for the invocations of up to
            // LINGER, rather than one per invocation; a flush ends the wait at once.
            let until = tokio::time::Instant::now() + LINGER;
            while let Some(m) = next.take() {
                match m {
                    Message::Records(r) => batch.extend(r),
                    Message::Flush(done) => flushes.push(done),
                }
                if batch.len() >= 5000 || !flushes.is_empty() {
                    break;
                }
                next = match rx.try_recv() {
                    Ok(m) => Some(m),
                    Err(_) => tokio::time::timeout_at(until, rx.recv())
                        .await
                        .ok()
                        .flatten(),
                };
            }
            while batch.len() < 5000 {
                match rx.try_recv() {
                    Ok(Message::Records(r)) => batch.extend(r),
                    Ok(Message::Flush(done)) => flushes.push(done),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                let began = std::time::Instant::now();
                if let Err(e) = store.append_logs(&batch).await {
                    tracing::error!(error = %e, lost = batch.len(), "could not store log events");
                }
                timings.store_commit(crate::metrics::StoreWriter::Logs, began.elapsed());
            }
            for done in flushes {
                let _ = done.send(());
            }
        }
    });
    (LogWriter { tx: tx.clone() }, StoreLogs { tx, metrics })
}

/// Deletes events older than `days`, hourly.
pub(crate) fn spawn_retention(
    store: Arc<dyn Store>,
    groups: Arc<dyn nimbus_store::LogQueries>,
    days: u32,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            // Groups with a retention policy of their own (PutRetentionPolicy) first.
            match groups.log_retentions().await {
                Ok(own) => {
                    for (group, days) in own {
                        let before = now_ms() - i64::from(days) * 86_400_000;
                        match groups.expire_group_logs(&group, before).await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(group, expired = n, "old log events deleted"),
                            Err(e) => tracing::warn!(error = %e, "could not expire log events"),
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read log retentions"),
            }
            let before = now_ms() - i64::from(days) * 86_400_000;
            match store.expire_logs(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "old log events deleted"),
                Err(e) => tracing::warn!(error = %e, "could not expire log events"),
            }
        }
    });
}

/// `GET /_nimbus/logs/{name}?since=<epoch ms>&after=<id>`: a function's log events, oldest first.
pub(crate) async fn read(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let q = query_pairs(query.as_deref());
    let num = |k: &str| {
        query_param(&q, k)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let limit = usize::try_from(num("limit"))
        .ok()
        .filter(|l| (1..=10_000).contains(l))
        .unwrap_or(1000);
    let group = format!("/aws/lambda/{name}");
    let events = app
        .store
        .read_logs(&group, num("since"), num("after"), limit)
        .await?;
    let events: Vec<_> = events
        .iter()
        .map(|e| {
            json!({
                "Id": e.id,
                "Timestamp": e.timestamp_ms,
                "LogStreamName": e.stream,
                "Message": e.message,
            })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "LogGroupName": group, "Events": events }),
    ))
}
