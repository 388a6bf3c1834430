//! GetFunctionConcurrency: `GET /2019-09-30/functions/{FunctionName}/concurrency`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::json;

use crate::api::{json, load_latest, unqualified_ref};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let r = unqualified_ref(&app, &ctx, &name)?;
    let f = load_latest(&app, &ctx, &r).await?;
    // AWS compat: `{}` when nothing is reserved.
    let body = match f.reserved_concurrency {
        Some(n) => json!({ "ReservedConcurrentExecutions": n }),
        None => json!({}),
    };
    Ok(json(StatusCode::OK, &body))
}
