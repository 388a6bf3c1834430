//! UpdateFunctionUrlConfig: `PUT /2021-10-31/functions/{FunctionName}/url`. What the request
//! leaves out is kept; a `Cors` given replaces the whole CORS configuration.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::url::{FunctionUrlConfig, UrlConfigRequest};
use nimbus_store::StoreError;

use crate::api::create_function_url_config::{url_function_arn, url_missing, url_ref, url_time};
use crate::api::{json, parse_json};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let req: UrlConfigRequest = parse_json(&body)?;
    let settings = req.settings(false)?;
    let r = url_ref(&app, &ctx, &name, query.as_deref())?;
    let qualifier = r.qualifier.clone().unwrap_or_default();
    let stored = app
        .urls
        .get_url(&r.name, &qualifier)
        .await?
        .ok_or_else(url_missing)?;
    let next = FunctionUrlConfig {
        auth_type: settings.auth_type.unwrap_or(stored.auth_type),
        cors: settings.cors.or(stored.cors.clone()),
        invoke_mode: settings.invoke_mode.unwrap_or(stored.invoke_mode),
        last_modified_time: url_time(),
        ..stored
    };
    match app.urls.update_url(&next).await {
        Ok(()) => app.url_cache.clear(),
        Err(StoreError::NotFound(_)) => return Err(url_missing()),
        Err(e) => return Err(e.into()),
    }
    let arn = url_function_arn(&app, &ctx.region, &next);
    Ok(json(StatusCode::OK, &next.wire(&app.url_of(&next), &arn)))
}
