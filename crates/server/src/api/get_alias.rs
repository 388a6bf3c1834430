//! GetAlias: `GET /2015-03-31/functions/{FunctionName}/aliases/{Name}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::alias::validate_alias_name;
use nimbus_model::function_arn;

use crate::api::create_alias::alias_not_found;
use crate::api::{json, load_latest, unqualified_ref};
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
    let a = app
        .store
        .get_alias(&f.name, &alias)
        .await?
        .ok_or_else(|| alias_not_found(&app, &ctx, &f.name, &alias))?;
    let arn = function_arn(&ctx.region, &app.account, &f.name);
    Ok(json(StatusCode::OK, &a.configuration(&arn)))
}
