//! GetFunctionConfiguration: `GET /2015-03-31/functions/{FunctionName}/configuration`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;

use crate::api::{configuration_for, json, load_qualified, qualified_ref};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let r = qualified_ref(&app, &ctx, &name, query.as_deref())?;
    let (_, f) = load_qualified(&app, &ctx, &r).await?;
    Ok(json(StatusCode::OK, &configuration_for(&app, &ctx, &r, &f)))
}
