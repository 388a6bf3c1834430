//! PutFunctionEventInvokeConfig: `PUT /2019-09-25/functions/{FunctionName}/event-invoke-config`
//! (the whole configuration replaced), and what the other event-invoke-config operations share.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::event_invoke::{
    check_ranges, DestinationConfig, DestinationTarget, EventInvokeConfig, EventInvokeConfigRequest,
};
use nimbus_model::{function_arn, FunctionRef, LambdaError};

use crate::api::{json, parse_json, qualified_ref};
use crate::app::{now_ms, App};
use crate::error::{ApiError, ApiResult};
use crate::request::Ctx;

/// The qualifier a configuration is stored under: `$LATEST` for none.
pub(crate) fn config_qualifier(r: &FunctionRef) -> &str {
    r.qualifier.as_deref().unwrap_or("$LATEST")
}

/// AWS compat: the function, version or alias a Put or Update names is not there.
pub(crate) fn function_missing() -> ApiError {
    LambdaError::not_found("The function doesn't exist.").into()
}

/// AWS compat: `The function <arn>:<qualifier> doesn't have an EventInvokeConfig`.
pub(crate) fn config_missing(app: &App, ctx: &Ctx, r: &FunctionRef) -> ApiError {
    LambdaError::not_found(format!(
        "The function {}:{} doesn't have an EventInvokeConfig",
        function_arn(&ctx.region, &app.account, &r.name),
        config_qualifier(r)
    ))
    .into()
}

/// Whether the function, and the version or alias `r` names, exist.
pub(crate) async fn exists(app: &App, r: &FunctionRef) -> ApiResult<bool> {
    Ok(crate::api::existence(app, r).await? == Some(true))
}

/// Checks the request's ranges and destinations; `""` destinations read as unset.
pub(crate) async fn check_request(
    app: &App,
    ctx: &Ctx,
    r: &FunctionRef,
    req: &mut EventInvokeConfigRequest,
) -> ApiResult<(Option<u32>, Option<u32>)> {
    if req.maximum_retry_attempts.is_none()
        && req.maximum_event_age_in_seconds.is_none()
        && req.destination_config.is_none()
    {
        return Err(LambdaError::invalid_parameter(
            "You must specify at least one of error handling or destination setting.",
        )
        .into());
    }
    let ranges = check_ranges(req)?;
    if let Some(d) = &mut req.destination_config {
        for dest in [&mut d.on_success.destination, &mut d.on_failure.destination] {
            if dest.as_deref() == Some("") {
                *dest = None;
            }
            if let Some(arn) = dest.as_deref() {
                check_destination(app, ctx, r, arn).await?;
            }
        }
    }
    Ok(ranges)
}

/// A destination Nimbus can deliver to: another function of this account that exists, or a
/// queue.
async fn check_destination(app: &App, ctx: &Ctx, r: &FunctionRef, arn: &str) -> ApiResult<()> {
    let invalid = || -> ApiError {
        LambdaError::invalid_parameter(format!("The destination ARN {arn} is invalid.")).into()
    };
    match DestinationTarget::parse(arn) {
        Some(DestinationTarget::Function { name, .. }) => {
            // Only this account's functions in this region are Nimbus's to invoke.
            let scoped = FunctionRef::parse(arn, nimbus_model::NameShape::Namespaced)
                .is_ok_and(|d| d.check_scope(&ctx.region, &app.account).is_ok());
            if !scoped {
                return Err(invalid());
            }
            if app.store.get_function(&name).await?.is_none() {
                return Err(invalid());
            }
            if name == r.name {
                return Err(LambdaError::invalid_parameter(
                    "You can't specify the function as a destination for itself.",
                )
                .into());
            }
            Ok(())
        }
        Some(DestinationTarget::Queue { .. }) => {
            if crate::sqs::queue_of_arn(app, arn).is_none() {
                return Err(invalid());
            }
            Ok(())
        }
        None => Err(LambdaError::invalid_parameter(format!(
            "The destination ARN {arn} is invalid. Nimbus delivers invocation records to Lambda functions and SQS queues only."
        ))
        .into()),
    }
}

/// The stored configuration of `r` with the request's settings.
pub(crate) fn build(
    r: &FunctionRef,
    ranges: (Option<u32>, Option<u32>),
    destinations: Option<DestinationConfig>,
) -> EventInvokeConfig {
    let d = destinations.unwrap_or_default();
    EventInvokeConfig {
        function: r.name.clone(),
        qualifier: config_qualifier(r).to_string(),
        maximum_retry_attempts: ranges.0,
        maximum_event_age_seconds: ranges.1,
        on_success: d.on_success.destination,
        on_failure: d.on_failure.destination,
        last_modified_ms: now_ms(),
    }
}

/// Stores `config` and answers with it.
pub(crate) async fn store(app: &App, ctx: &Ctx, config: EventInvokeConfig) -> ApiResult<Response> {
    match app.events.put_event_invoke_config(&config).await {
        Ok(()) => {}
        Err(nimbus_store::StoreError::NotFound(_)) => return Err(function_missing()),
        Err(e) => return Err(e.into()),
    }
    let arn = function_arn(&ctx.region, &app.account, &config.function);
    Ok(json(StatusCode::OK, &config.wire(&arn)))
}

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let r = qualified_ref(&app, &ctx, &name, query.as_deref())?;
    let mut req: EventInvokeConfigRequest = parse_json(&body)?;
    let ranges = check_request(&app, &ctx, &r, &mut req).await?;
    if !exists(&app, &r).await? {
        return Err(function_missing());
    }
    store(&app, &ctx, build(&r, ranges, req.destination_config)).await
}
