//! GetEventSourceMapping: `GET /2015-03-31/event-source-mappings/{UUID}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::esm::EventSourceMapping;
use nimbus_model::LambdaError;

use crate::api::create_event_source_mapping::answer;
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

/// The mapping `uuid`, or AWS's 404.
pub(crate) async fn load(app: &App, uuid: &str) -> ApiResult<EventSourceMapping> {
    app.events
        .get_mapping(uuid)
        .await?
        .ok_or_else(|| LambdaError::not_found("The resource you requested does not exist.").into())
}

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(uuid): Path<String>,
) -> ApiResult<Response> {
    let m = load(&app, &uuid).await?;
    Ok(answer(&app, &ctx, &m, StatusCode::OK))
}
