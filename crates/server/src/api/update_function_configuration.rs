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

use crate::api::{function_ref, json, load_latest, parse_json};
use crate::app::{new_revision, now_ms, App};
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
    let f = load_latest(&app, &ctx, &r).await?;
    let mut settings = f.settings.clone();
    req.apply(&mut settings)?;
    f.check_revision(req.revision_id.as_deref())?;
    let arn = function_arn(&ctx.region, &app.account, &f.name);
    f.ensure_updatable(&arn)?;
    let next = Function {
        settings,
        last_modified_ms: now_ms(),
        revision_id: new_revision(),
        last_update: Some(LastUpdateStatus::InProgress),
        ..f.clone()
    };
    commit_update(&app, &next, &f.revision_id, &arn).await?;
    app.activate(next.name.clone());
    Ok(json(
        StatusCode::OK,
        &next.configuration(&ctx.region, &app.account),
    ))
}

/// Stores an update made from revision `from`; a concurrent change in between is the conflict
/// Lambda reports for overlapping updates.
pub(crate) async fn commit_update(
    app: &App,
    next: &Function,
    from: &str,
    arn: &str,
) -> ApiResult<()> {
    match app.store.update_function(next, from).await {
        Ok(()) => Ok(()),
        Err(nimbus_store::StoreError::RevisionMismatch(_)) => Err(nimbus_model::LambdaError::conflict(format!(
            "The operation cannot be performed at this time. An update is in progress for resource: {arn}"
        ))
        .into()),
        Err(nimbus_store::StoreError::NotFound(_)) => Err(nimbus_model::LambdaError::not_found(format!(
            "Function not found: {arn}"
        ))
        .into()),
        Err(e) => Err(e.into()),
    }
}
