//! GetFunctionUrlConfig: `GET /2021-10-31/functions/{FunctionName}/url`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;

use crate::api::create_function_url_config::{url_function_arn, url_missing, url_ref};
use crate::api::json;
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
    let url = app
        .urls
        .get_url(&r.name, &qualifier)
        .await?
        .ok_or_else(url_missing)?;
    let arn = url_function_arn(&app, &ctx.region, &url);
    Ok(json(StatusCode::OK, &url.wire(&app.url_of(&url), &arn)))
}
