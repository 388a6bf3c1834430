//! DeleteFunctionConcurrency: `DELETE /2017-10-31/functions/{FunctionName}/concurrency`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;

use crate::api::put_function_concurrency::set_reservation;
use crate::api::unqualified_ref;
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let r = unqualified_ref(&app, &ctx, &name)?;
    set_reservation(&app, &ctx, &r, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
