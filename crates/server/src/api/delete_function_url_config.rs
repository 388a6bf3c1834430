//! DeleteFunctionUrlConfig: `DELETE /2021-10-31/functions/{FunctionName}/url`; the URL stops
//! answering at once.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;

use crate::api::create_function_url_config::{url_missing, url_ref};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let r = url_ref(&app, &ctx, &name, query.as_deref())?;
    let qualifier = r.qualifier.clone().unwrap_or_default();
    let deleted = app.urls.delete_url(&r.name, &qualifier).await?;
    app.url_cache.clear();
    if !deleted {
        return Err(url_missing());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
