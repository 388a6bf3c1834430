//! InvokeAsync (deprecated, still served): `POST /2014-11-13/functions/{FunctionName}/invoke-async`:
//! the raw body is the event, accepted like Invoke with `InvocationType: Event`; 202 with
//! `{"Status": 202}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use nimbus_engine::InvocationType;

use crate::api::invoke::{accept_event, decode};
use crate::api::json;
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let mut req = decode(&app, &ctx, &name, None, &headers, body)?;
    req.invocation_type = InvocationType::Event;
    accept_event(&app, req).await?;
    Ok(json(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "Status": 202 }),
    ))
}
