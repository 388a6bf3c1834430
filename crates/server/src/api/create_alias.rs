//! CreateAlias: `POST /2015-03-31/functions/{FunctionName}/aliases`, and what the alias
//! operations share.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::alias::{
    validate_alias_name, validate_function_version, validate_routing, CreateAliasRequest,
};
use nimbus_model::{function_arn, Alias, FunctionRef, LambdaError};
use nimbus_store::StoreError;

use crate::api::{json, load_latest, parse_json, unqualified_ref};
use crate::app::{new_revision, App};
use crate::error::ApiResult;
use crate::request::Ctx;

/// The weights an alias pointing at `version` may have, checked, with every version it names
/// published. The caller holds [`App::aliasing`].
pub(crate) async fn checked_targets(
    app: &App,
    ctx: &Ctx,
    r: &FunctionRef,
    version: &str,
    routing: Option<&nimbus_model::alias::RoutingConfig>,
) -> ApiResult<BTreeMap<String, f64>> {
    validate_function_version(version)?;
    let weights = validate_routing(version, routing)?;
    let arn = function_arn(&ctx.region, &app.account, &r.name);
    for v in std::iter::once(version).chain(weights.keys().map(String::as_str)) {
        if v == "$LATEST" {
            continue;
        }
        let n: Option<u32> = v.parse().ok();
        let exists = match n {
            Some(n) => app.store.get_version(&r.name, n).await?.is_some(),
            None => false,
        };
        if !exists {
            return Err(LambdaError::not_found(format!("Function not found: {arn}:{v}")).into());
        }
    }
    Ok(weights)
}

/// `Cannot find alias arn: <function-arn>:<alias>` (GetAlias).
pub(crate) fn alias_not_found(app: &App, ctx: &Ctx, function: &str, alias: &str) -> LambdaError {
    LambdaError::not_found(format!(
        "Cannot find alias arn: {}:{alias}",
        function_arn(&ctx.region, &app.account, function)
    ))
}

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let r = unqualified_ref(&app, &ctx, &name)?;
    let req: CreateAliasRequest = parse_json(&body)?;
    let alias_name = req
        .name
        .as_deref()
        .ok_or_else(|| LambdaError::required("name"))?;
    validate_alias_name(alias_name)?;
    let version = req
        .function_version
        .as_deref()
        .ok_or_else(|| LambdaError::required("functionVersion"))?;
    validate_function_version(version)?;
    let _aliasing = app.aliasing.lock().await;
    let f = load_latest(&app, &ctx, &r).await?;
    let weights = checked_targets(&app, &ctx, &r, version, req.routing_config.as_ref()).await?;
    let alias = Alias {
        function: f.name.clone(),
        name: alias_name.to_string(),
        function_version: version.to_string(),
        description: req.description.clone().unwrap_or_default(),
        additional_versions: weights,
        revision_id: new_revision(),
    };
    let arn = function_arn(&ctx.region, &app.account, &f.name);
    match app.store.create_alias(&alias).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists(_)) => {
            return Err(
                LambdaError::conflict(format!("Alias already exists: {arn}:{alias_name}")).into(),
            )
        }
        Err(StoreError::NotFound(_)) => {
            return Err(LambdaError::not_found(format!("Function not found: {arn}")).into())
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(function = %f.name, alias = %alias.name, version = %alias.function_version, "alias created");
    Ok(json(StatusCode::CREATED, &alias.configuration(&arn)))
}
