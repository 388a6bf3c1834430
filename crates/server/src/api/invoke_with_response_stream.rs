//! InvokeWithResponseStream: `POST /2021-11-15/functions/{FunctionName}/response-streaming-invocations`:
//! the function's response as AWS's event stream, `PayloadChunk` events as the runtime streams
//! them, then one `InvokeComplete` (`ErrorCode`, `ErrorDetails` when it failed; `LogResult`
//! when the tail was asked for). A function that does not stream answers in one chunk.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine as _;
use nimbus_engine::{InvocationOutcome, InvocationType, InvokeError};
use nimbus_model::LambdaError;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::api::invoke::{decode, invoke_error};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;
use crate::streaming::{self, Begun, ChannelBody};

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let req = decode(&app, &ctx, &name, query.as_deref(), &headers, body)?;
    if req.invocation_type == InvocationType::Event {
        // AWS compat: the model's ResponseStreamingInvocationType.
        return Err(LambdaError::validation(
            "1 validation error detected: Value 'Event' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [RequestResponse, DryRun]",
        )
        .into());
    }
    let begun = streaming::begin(&app, req).await.map_err(invoke_error)?;
    let (version, remapped, out) = match begun {
        Begun::Finished(outcome) => {
            if outcome.status == 204 {
                return Ok(dry_run(&outcome.executed_version));
            }
            let version = outcome.executed_version.clone();
            let (tx, rx) = mpsc::channel(2);
            if outcome.function_error.is_none() && !outcome.payload.is_empty() {
                let _ = tx.try_send(chunk(&outcome.payload));
            }
            let _ = tx.try_send(complete(&Ok(outcome)));
            (version, Some("application/json".to_string()), rx)
        }
        Begun::Streaming {
            mut parts,
            mut done,
            executed_version,
            content_type,
        } => {
            let (tx, rx) = mpsc::channel(4);
            tokio::spawn(async move {
                let mut outcome = None;
                while let Some(b) = streaming::next_chunk(&mut parts, &mut done, &mut outcome).await
                {
                    if tx.send(chunk(&b)).await.is_err() {
                        // The client has gone: the function runs on, its answer unread.
                        return;
                    }
                }
                if let Some(o) = outcome {
                    let _ = tx.send(complete(&o)).await;
                }
            });
            (executed_version, content_type, rx)
        }
    };
    let mut resp = Response::new(Body::new(ChannelBody(out)));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        "Content-Type",
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    if let Ok(v) = HeaderValue::from_str(&version) {
        h.insert("X-Amz-Executed-Version", v);
    }
    // AWS compat: the runtime's own content type (the prelude's, for HTTP streams).
    let remapped = remapped.unwrap_or_else(|| "application/octet-stream".into());
    if let Ok(v) = HeaderValue::from_str(&remapped) {
        h.insert("x-amzn-Remapped-Content-Type", v);
    }
    Ok(resp)
}

fn dry_run(version: &str) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(version) {
        resp.headers_mut().insert("X-Amz-Executed-Version", v);
    }
    resp
}

fn chunk(b: &[u8]) -> Bytes {
    streaming::event("PayloadChunk", "application/octet-stream", b)
}

/// `InvokeComplete`: what failed, if anything, and the log tail if asked for.
fn complete(outcome: &Result<InvocationOutcome, InvokeError>) -> Bytes {
    let mut body = json!({});
    match outcome {
        Ok(o) => {
            if o.function_error.is_some() {
                let doc: Option<Value> = serde_json::from_slice(&o.payload).ok();
                body["ErrorCode"] = json!(o
                    .error_type
                    .clone()
                    .or_else(|| doc
                        .as_ref()
                        .and_then(|d| d.get("errorType"))
                        .and_then(Value::as_str)
                        .map(str::to_string))
                    .unwrap_or_else(|| "Unhandled".into()));
                body["ErrorDetails"] = json!(doc
                    .as_ref()
                    .and_then(|d| d.get("errorMessage"))
                    .and_then(Value::as_str)
                    .map_or_else(
                        || String::from_utf8_lossy(&o.payload).into_owned(),
                        str::to_string
                    ));
            }
            if let Some(t) = o.log_tail() {
                body["LogResult"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(t.as_bytes()));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "a streamed invocation ended in error");
            body["ErrorCode"] = json!("ServiceException");
            body["ErrorDetails"] = json!("the invocation failed (see the server's log)");
        }
    }
    streaming::event(
        "InvokeComplete",
        "application/json",
        body.to_string().as_bytes(),
    )
}
