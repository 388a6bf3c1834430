//! UpdateFunctionConfiguration: `PUT /2015-03-31/functions/{FunctionName}/configuration`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::{
    function_arn, Function, LastUpdateStatus, NameShape, UpdateFunctionConfigurationRequest,
};

use crate::api::{function_ref, json, not_found, parse_json};
use crate::app::{now_ms, App};
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let r = function_ref(&app, &ctx, &name, NameShape::Create, None)?;
    let req: UpdateFunctionConfigurationRequest = parse_json(&body)?;
    let arn = function_arn(&ctx.region, &app.account, &r.name);
    let (_, next) = app
        .modify_function(&r.name, |f| {
            let mut settings = f.settings.clone();
            req.apply(&mut settings)?;
            f.check_revision(req.revision_id.as_deref())?;
            f.ensure_updatable(&arn)?;
            Ok(Function {
                settings,
                last_modified_ms: now_ms(),
                last_update: Some(LastUpdateStatus::InProgress),
                ..f.clone()
            })
        })
        .await?
        .ok_or_else(|| not_found(&app, &ctx, &r))?;
    app.activate(next.name.clone());
    Ok(json(
        StatusCode::OK,
        &next.configuration(&ctx.region, &app.account),
    ))
}
