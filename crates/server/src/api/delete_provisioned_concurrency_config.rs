//! DeleteProvisionedConcurrencyConfig:
//! `DELETE /2019-09-30/functions/{FunctionName}/provisioned-concurrency?Qualifier=`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;

use crate::api::not_found;
use crate::api::put_provisioned_concurrency_config::{config_not_found, provisioned_target};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let (r, qualifier) = provisioned_target(&app, &ctx, &name, query.as_deref()).await?;
    let (before, _) = app
        .modify_function(&r.name, |f| {
            let mut next = f.clone();
            next.provisioned.remove(&qualifier);
            Ok(next)
        })
        .await?
        .ok_or_else(|| not_found(&app, &ctx, &r))?;
    if !before.provisioned.contains_key(&qualifier) {
        return Err(config_not_found().into());
    }
    app.engine
        .set_provisioned(&r.name, &qualifier, &ctx.region, 0);
    Ok(StatusCode::NO_CONTENT.into_response())
}
