//! UpdateAlias: `PUT /2015-03-31/functions/{FunctionName}/aliases/{Name}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::alias::{validate_alias_name, UpdateAliasRequest};
use nimbus_model::{function_arn, Alias, LambdaError};
use nimbus_store::StoreError;

use crate::api::create_alias::checked_targets;
use crate::api::{json, load_latest, parse_json, unqualified_ref};
use crate::app::{new_revision, App};
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path((name, alias)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let r = unqualified_ref(&app, &ctx, &name)?;
    validate_alias_name(&alias)?;
    let req: UpdateAliasRequest = parse_json(&body)?;
    let _aliasing = app.aliasing.lock().await;
    let f = load_latest(&app, &ctx, &r).await?;
    let arn = function_arn(&ctx.region, &app.account, &f.name);
    let not_found = || LambdaError::not_found(format!("Alias not found: {arn}:{alias}"));
    let current = app
        .store
        .get_alias(&f.name, &alias)
        .await?
        .ok_or_else(not_found)?;
    if req
        .revision_id
        .as_deref()
        .is_some_and(|rev| rev != current.revision_id)
    {
        return Err(LambdaError::stale_revision().into());
    }
    let version = req
        .function_version
        .clone()
        .unwrap_or_else(|| current.function_version.clone());
    // A new version without a RoutingConfig keeps the weights only if they still make sense.
    let weights = match &req.routing_config {
        Some(rc) => checked_targets(&app, &ctx, &r, &version, Some(rc)).await?,
        None => {
            let kept = nimbus_model::alias::RoutingConfig {
                additional_version_weights: Some(current.additional_versions.clone()),
            };
            checked_targets(&app, &ctx, &r, &version, Some(&kept)).await?
        }
    };
    let next = Alias {
        function_version: version,
        description: req
            .description
            .clone()
            .unwrap_or_else(|| current.description.clone()),
        additional_versions: weights,
        revision_id: new_revision(),
        ..current.clone()
    };
    match app.store.update_alias(&next, &current.revision_id).await {
        Ok(()) => {}
        // Writes of aliases hold `aliasing`: only a deletion can come in between.
        Err(StoreError::NotFound(_)) => return Err(not_found().into()),
        Err(StoreError::RevisionMismatch(_)) => return Err(LambdaError::stale_revision().into()),
        Err(e) => return Err(e.into()),
    }
    Ok(json(StatusCode::OK, &next.configuration(&arn)))
}
