//! Invoke: `POST /2015-03-31/functions/{FunctionName}/invocations` (synchronous and DryRun).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine as _;
use nimbus_engine::{EngineError, FunctionSpec, InvokeRequest};
use nimbus_model::{function_arn, ErrorCode, Function, LambdaError, State as FnState};

use crate::api::{load_latest, qualified_ref};
use crate::app::App;
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

/// The engine's view of a stored function. Its generation is the revision (which every change
/// of code or configuration renews) in this region: environments of another one are not used.
pub(crate) fn function_spec(app: &App, ctx: &Ctx, f: &Function) -> FunctionSpec {
    let s = &f.settings;
    let generation = format!("{}@{}", f.revision_id, ctx.region);
    FunctionSpec {
        name: f.name.clone(),
        version: "$LATEST".into(),
        region: ctx.region.clone(),
        runtime: s.runtime.clone().unwrap_or_default(),
        handler: s.handler.clone().unwrap_or_default(),
        code_dir: app.code.package_dir(&f.code.sha256_hex),
        memory_mb: s.memory_size,
        timeout: Duration::from_secs(u64::from(s.timeout)),
        ephemeral_mb: s.ephemeral_storage,
        environment: s.environment.clone().unwrap_or_default(),
        log_group: s
            .logging
            .log_group
            .clone()
            .unwrap_or_else(|| format!("/aws/lambda/{}", f.name)),
        generation,
    }
}

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let r = qualified_ref(&app, &ctx, &name, query.as_deref())?;
    let invocation_type = header(&headers, "X-Amz-Invocation-Type").unwrap_or("RequestResponse");
    if !matches!(invocation_type, "RequestResponse" | "Event" | "DryRun") {
        return Err(enum_error(
            invocation_type,
            "invocationType",
            "Event, RequestResponse, DryRun",
        ));
    }
    let log_type = header(&headers, "X-Amz-Log-Type").unwrap_or("None");
    if !matches!(log_type, "None" | "Tail") {
        return Err(enum_error(log_type, "logType", "None, Tail"));
    }
    let client_context = match header(&headers, "X-Amz-Client-Context") {
        None => None,
        Some(cc) => Some(decode_client_context(cc)?),
    };
    let f = load_latest(&app, &ctx, &r).await?;
    if f.state != FnState::Active {
        // AWS compat: spec §5b #27.
        return Err(LambdaError::conflict(format!(
            "The operation cannot be performed at this time. The function is currently in the following state: {:?}",
            f.state
        ))
        .into());
    }
    if !body.is_empty() {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
            return Err(LambdaError::new(
                ErrorCode::InvalidRequestContent,
                format!("Could not parse request body into json: Could not parse payload into json: {e}"),
            )
            .into());
        }
    }
    match invocation_type {
        "DryRun" => return Ok(StatusCode::NO_CONTENT.into_response()),
        "Event" => {
            return Err(LambdaError::invalid_parameter(
                "InvocationType Event is not supported by Nimbus yet: invoke with RequestResponse.",
            )
            .into())
        }
        _ => {}
    }
    let mut invoked_arn = function_arn(&ctx.region, &app.account, &f.name);
    if let Some(qual) = &r.qualifier {
        invoked_arn = format!("{invoked_arn}:{qual}");
    }
    let spec = function_spec(&app, &ctx, &f);
    let outcome = app
        .engine
        .invoke(
            &spec,
            InvokeRequest {
                request_id: ctx.request_id.clone(),
                invoked_arn,
                payload: body.to_vec(),
                client_context,
            },
        )
        .await
        .map_err(|e| match e {
            EngineError::RuntimeUnavailable { .. } => {
                ApiError::Lambda(LambdaError::new(ErrorCode::InvalidRuntime, e.to_string()))
            }
            EngineError::ConcurrencyLimit(_) => {
                ApiError::Lambda(LambdaError::throttled("ConcurrentInvocationLimitExceeded"))
            }
            other => {
                ApiError::internal(format!("{other}: {:?}", std::error::Error::source(&other)))
            }
        })?;
    let mut resp = (StatusCode::OK, outcome.payload).into_response();
    let h = resp.headers_mut();
    h.insert("Content-Type", HeaderValue::from_static("application/json"));
    h.insert(
        "X-Amz-Executed-Version",
        HeaderValue::from_static("$LATEST"),
    );
    if outcome.function_error {
        h.insert(
            "X-Amz-Function-Error",
            HeaderValue::from_static("Unhandled"),
        );
    }
    if log_type == "Tail" {
        let tail = nimbus_engine::log_tail(&outcome.log);
        let b64 = base64::engine::general_purpose::STANDARD.encode(tail.as_bytes());
        if let Ok(v) = HeaderValue::from_str(&b64) {
            h.insert("X-Amz-Log-Result", v);
        }
    }
    Ok(resp)
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
