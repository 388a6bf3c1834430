//! UpdateFunctionEventInvokeConfig: `POST /2019-09-25/functions/{FunctionName}/event-invoke-config`:
//! the settings given replace those stored, the others stay.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Extension;
use nimbus_model::event_invoke::EventInvokeConfigRequest;

use crate::api::put_function_event_invoke_config::{
    check_request, config_missing, config_qualifier, exists, function_missing, store,
};
use crate::api::{parse_json, qualified_ref};
use crate::app::{now_ms, App};
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let r = qualified_ref(&app, &ctx, &name, query.as_deref())?;
    let mut req: EventInvokeConfigRequest = parse_json(&body)?;
    let (retries, age) = check_request(&app, &ctx, &r, &mut req).await?;
    if !exists(&app, &r).await? {
        return Err(function_missing());
    }
    let mut config = app
        .events
        .get_event_invoke_config(&r.name, config_qualifier(&r))
        .await?
        .ok_or_else(|| config_missing(&app, &ctx, &r))?;
    if retries.is_some() {
        config.maximum_retry_attempts = retries;
    }
    if age.is_some() {
        config.maximum_event_age_seconds = age;
    }
    if let Some(d) = req.destination_config {
        config.on_success = d.on_success.destination;
        config.on_failure = d.on_failure.destination;
    }
    config.last_modified_ms = now_ms();
    store(&app, &ctx, config).await
}
