//! Invoke: `POST /2015-03-31/functions/{FunctionName}/invocations`: the HTTP request decoded
//! into the engine's pipeline request and its outcome encoded (RequestResponse, DryRun), or
//! the event accepted into the durable queue (Event: 202 once stored).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine as _;
use nimbus_engine::{
    EngineError, InvocationOutcome, InvocationRequest, InvocationType, InvokeError, LogType,
    RequestId, ResolveError,
};
use nimbus_model::event_invoke::MAX_ASYNC_PAYLOAD_BYTES;
use nimbus_model::{ErrorCode, LambdaError};
use nimbus_store::NewEvent;

use crate::api::qualified_ref;
use crate::app::App;
use crate::async_invoke::EnqueueError;
use crate::error::{ApiError, ApiResult};
use crate::request::Ctx;

/// AWS compat: the largest synchronous payload.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 6_291_456;

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn enum_error(value: &str, field: &str, set: &str) -> ApiError {
    LambdaError::validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [{set}]"
    ))
    .into()
}

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
        accept_event(&app, req).await?;
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    let outcome = app.engine.invoke(req).await.map_err(invoke_error)?;
    Ok(encode(outcome))
}

/// An asynchronous invocation: checked as far as it can be without running it (the function
/// and qualifier exist and are `Active`, the payload is JSON of at most 1 MB), then stored;
/// returns once the event is durable. The dispatcher runs it later.
pub(crate) async fn accept_event(app: &App, req: InvocationRequest) -> ApiResult<()> {
    let n = req.payload.len();
    if n > MAX_ASYNC_PAYLOAD_BYTES {
        // AWS compat: spec §5b #32.
        return Err(LambdaError::new(
            ErrorCode::RequestEntityTooLarge,
            format!("{n} byte payload is too large for the Event invocation type (limit {MAX_ASYNC_PAYLOAD_BYTES} bytes)"),
        )
        .into());
    }
    app.engine.check(&req).await.map_err(invoke_error)?;
    let event = NewEvent {
        function: req.function,
        qualifier: req.qualifier.unwrap_or_default(),
        region: req.region,
        request_id: req.request_id.to_string(),
        payload: req.payload.to_vec(),
        client_context: req.client_context,
        trace_header: req.trace_header,
        enqueued_ms: crate::app::now_ms(),
        chain: 0,
    };
    app.event_queue
        .enqueue(vec![event])
        .await
        .map_err(|e| match e {
            EnqueueError::Full(limit) => LambdaError::new(
                ErrorCode::TooManyRequests,
                format!("Nimbus's queue of asynchronous invocations is full ({limit} events, async.max_pending_events): try again later."),
            )
            .into(),
            EnqueueError::Store(e) => ApiError::internal(error_chain(&*e)),
        })
}

/// The HTTP request as the pipeline's request. Only decoding happens here.
pub(crate) fn decode(
    app: &App,
    ctx: &Ctx,
    name: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<InvocationRequest> {
    let r = qualified_ref(app, ctx, name, query)?;
    let it = header(headers, "X-Amz-Invocation-Type").unwrap_or("RequestResponse");
    let invocation_type = InvocationType::parse(it)
        .ok_or_else(|| enum_error(it, "invocationType", "Event, RequestResponse, DryRun"))?;
    let lt = header(headers, "X-Amz-Log-Type").unwrap_or("None");
    let log_type = LogType::parse(lt).ok_or_else(|| enum_error(lt, "logType", "None, Tail"))?;
    let client_context = match header(headers, "X-Amz-Client-Context") {
        None => None,
        Some(cc) => Some(decode_client_context(cc)?),
    };
    Ok(InvocationRequest {
        function: r.name,
        qualifier: r.qualifier,
        region: ctx.region.clone(),
        request_id: RequestId::new(ctx.request_id.as_str()),
        payload: body,
        invocation_type,
        client_context,
        log_type,
        trace_header: header(headers, "X-Amzn-Trace-Id").map(str::to_string),
        deadline: None,
        stream: None,
    })
}

/// The pipeline's refusals in Lambda's words.
pub(crate) fn invoke_error(e: InvokeError) -> ApiError {
    match e {
        InvokeError::Resolve(ResolveError::Lambda(e)) => e.into(),
        InvokeError::InvalidPayload(detail) => LambdaError::new(
            ErrorCode::InvalidRequestContent,
            format!("Could not parse request body into json: Could not parse payload into json: {detail}"),
        )
        .into(),
        // AWS compat: spec §5b #27.
        InvokeError::NotActive(state) => LambdaError::conflict(format!(
            "The operation cannot be performed at this time. The function is currently in the following state: {state:?}"
        ))
        .into(),
        InvokeError::Throttled(reason) => LambdaError::throttled(reason.as_str()).into(),
        InvokeError::Engine(e @ EngineError::RuntimeUnavailable { .. }) => {
            LambdaError::new(ErrorCode::InvalidRuntime, e.to_string()).into()
        }
        InvokeError::Capacity(why) => {
            tracing::warn!(reason = %why, "no capacity for an environment");
            LambdaError::new(
                ErrorCode::Service,
                "Nimbus has no capacity for another execution environment right now (see the server's log).",
            )
            .into()
        }
        InvokeError::CodeRemoved(_) => LambdaError::conflict(
            "The function's code changed while an execution environment was starting for it. Retry the invocation.",
        )
        .into(),
        other => ApiError::internal(error_chain(&other)),
    }
}

/// An error with its sources, for the log.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The outcome as Lambda's response: the payload, `X-Amz-Executed-Version`,
/// `X-Amz-Function-Error`, `X-Amz-Log-Result`.
fn encode(outcome: InvocationOutcome) -> Response {
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::OK);
    if status == StatusCode::NO_CONTENT {
        return status.into_response();
    }
    let tail = outcome
        .log_tail()
        .map(|t| base64::engine::general_purpose::STANDARD.encode(t.as_bytes()));
    let mut resp = (status, outcome.payload).into_response();
    let h = resp.headers_mut();
    h.insert("Content-Type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&outcome.executed_version) {
        h.insert("X-Amz-Executed-Version", v);
    }
    if let Some(fe) = outcome.function_error {
        h.insert(
            "X-Amz-Function-Error",
            HeaderValue::from_static(fe.as_str()),
        );
    }
    if let Some(v) = tail.and_then(|t| HeaderValue::from_str(&t).ok()) {
        h.insert("X-Amz-Log-Result", v);
    }
    resp
}

/// `X-Amz-Client-Context`: base64 of a JSON object, at most 3,583 bytes.
fn decode_client_context(cc: &str) -> ApiResult<String> {
    let bad = || -> ApiError {
        LambdaError::invalid_parameter("Client context must be a valid Base64-encoded JSON object.")
            .into()
    };
    if cc.len() > 3583 {
        return Err(LambdaError::invalid_parameter(
            "Client context must be at most 3583 bytes once base64-encoded.",
        )
        .into());
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(cc)
        .map_err(|_| bad())?;
    let v: serde_json::Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if !v.is_object() {
        return Err(bad());
    }
    Ok(v.to_string())
}
