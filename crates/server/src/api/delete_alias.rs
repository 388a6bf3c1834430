//! DeleteAlias: `DELETE /2015-03-31/functions/{FunctionName}/aliases/{Name}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use nimbus_model::alias::validate_alias_name;

use crate::api::delete_function::forget_provisioned;
use crate::api::load_latest;
use crate::api::unqualified_ref;
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path((name, alias)): Path<(String, String)>,
) -> ApiResult<Response> {
    let r = unqualified_ref(&app, &ctx, &name)?;
    validate_alias_name(&alias)?;
    let f = load_latest(&app, &ctx, &r).await?;
    let _aliasing = app.aliasing.lock().await;
    // Deleting an alias that is not there is no error (as deleting a missing version).
    if app.store.delete_alias(&f.name, &alias).await? {
        tracing::info!(function = %f.name, alias = %alias, "alias deleted");
        forget_provisioned(&app, &ctx, &f.name, &alias).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
