//! Nimbus's own queue endpoints for `nimbus queues` (signed like the Lambda API, answered in
//! its JSON): `GET /_nimbus/queues`, and on `/_nimbus/queues/{name}/`: `GET peek` (no receive
//! is counted, no visibility changes), `POST send`, `POST purge`, `POST redrive` (a
//! dead-letter queue's messages back to the queues whose redrive policy names it).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use nimbus_model::{ErrorCode, LambdaError};
use serde_json::{json, Map, Value};

use super::{attributes, queues, SqsError, SqsErrorCode};
use crate::app::{now_ms, App};
use crate::error::ApiError;
use crate::request::Ctx;

fn api_error(e: SqsError) -> Response {
    let code = match e.code {
        SqsErrorCode::QueueDoesNotExist => ErrorCode::ResourceNotFound,
        SqsErrorCode::Internal => return ApiError::internal(e.message).into_response(),
        _ => ErrorCode::InvalidParameterValue,
    };
    ApiError::from(LambdaError::new(code, e.message)).into_response()
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

/// Every queue with its message counts.
pub(crate) async fn list(State(app): State<Arc<App>>, Extension(ctx): Extension<Ctx>) -> Response {
    let run = async {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = app
                .queue_store
                .list_queues("", after.as_deref(), 500)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.name.clone());
            for q in &page {
                let s = attributes::settings(&app, q);
                let c = app
                    .queue_store
                    .queue_counts(&q.name, now_ms(), s.retention_seconds.saturating_mul(1000))
                    .await?;
                out.push(json!({
                    "Name": q.name,
                    "QueueUrl": super::queue_url(&app, &ctx, &q.name),
                    "Visible": c.visible,
                    "InFlight": c.in_flight,
                    "Delayed": c.delayed,
                    "DeadLetterQueue": s.redrive.map(|r| r.dead_letter_queue),
                }));
            }
        }
        Ok::<_, SqsError>(json!({ "Queues": out }))
    };
    run.await.map_or_else(api_error, ok)
}

/// Up to `limit` (default 10, at most 100) messages in send order, after store id `after`.
pub(crate) async fn peek(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let after = q
        .get("after")
        .and_then(|a| a.parse::<i64>().ok())
        .unwrap_or(0);
    match app.queue_store.peek_messages(&name, after, limit).await {
        Ok(messages) => ok(json!({
            "Messages": messages
                .iter()
                .map(|m| json!({
                    "Id": m.id,
                    "MessageId": m.message_id,
                    "Body": m.body,
                    "SentTimestamp": m.sent_ms,
                    "ApproximateReceiveCount": m.receive_count,
                    "VisibleAt": m.visible_at,
                    "MessageGroupId": m.record.group_id,
                    "MessageAttributes": m.record.attributes.keys().collect::<Vec<_>>(),
                    "DeadLetterQueueSource": m.source_queue,
                }))
                .collect::<Vec<_>>()
        })),
        Err(e) => api_error(e.into()),
    }
}

/// Sends `{"MessageBody": ..., "MessageAttributes"?: {"name": "string value"}}` through
/// [`super::send_internal`], as the server's own sends go (a FIFO queue takes it in group
/// `nimbus`, each a message of its own). Answers `{"MessageId": ...}`.
pub(crate) async fn send(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let fields: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(Value::Object(m)) => m,
        _ => return api_error(SqsError::invalid("The body must be a JSON object.")),
    };
    let run = async {
        let body = super::str_member(&fields, "MessageBody")?
            .ok_or_else(|| SqsError::missing("MessageBody"))?
            .to_string();
        let attributes = super::string_map_member(&fields, "MessageAttributes")?
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    super::MessageAttributeValue {
                        data_type: "String".into(),
                        string_value: Some(v),
                        binary_value: None,
                    },
                )
            })
            .collect();
        let arn = super::queue_arn(&app, &ctx.region, &name);
        let id = super::send_internal(&app, &arn, body, attributes).await?;
        Ok::<_, SqsError>(json!({ "MessageId": id }))
    };
    run.await.map_or_else(api_error, ok)
}

pub(crate) async fn purge(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    match app.queue_store.purge_queue(&name).await {
        Ok(n) => ok(json!({ "Purged": n })),
        Err(e) => api_error(e.into()),
    }
}

/// Moves the dead-letter queue's messages back: each to the queue it came from, if that queue
/// still names this one in its redrive policy; those of unknown origin to the one source queue
/// when there is exactly one.
pub(crate) async fn redrive(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    let run = async {
        queues::load(&app, &name).await?;
        let sources = queues::sources_of(&app, &name).await?;
        if sources.is_empty() {
            return Err(SqsError::invalid(format!(
                "No queue has {name} as its dead-letter queue."
            )));
        }
        let unsourced = sources.len() == 1;
        let mut moved = Map::new();
        for s in &sources {
            let n = app
                .queue_store
                .redrive(&name, s, unsourced, now_ms())
                .await?;
            if n > 0 {
                app.queue_waiters.wake_all(s);
            }
            moved.insert(s.clone(), json!(n));
        }
        Ok(json!({ "Moved": moved }))
    };
    run.await.map_or_else(api_error, ok)
}
