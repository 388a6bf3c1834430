//! ListTags: `GET /2017-03-31/tags/{Resource}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::json;

use crate::api::json;
use crate::api::tag_resource::tagged_function;
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(resource): Path<String>,
) -> ApiResult<Response> {
    let f = tagged_function(&app, &ctx, &resource).await?;
    Ok(json(StatusCode::OK, &json!({ "Tags": f.tags })))
}
