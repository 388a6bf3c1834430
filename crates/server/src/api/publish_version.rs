//! PublishVersion: `POST /2015-03-31/functions/{FunctionName}/versions`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::{function_arn, FunctionConfiguration, FunctionRef, LambdaError};
use nimbus_store::StoreError;
use serde::Deserialize;

use crate::api::{json, not_found, parse_json, unqualified_ref};
use crate::app::{new_revision, now_ms, App};
use crate::error::{ApiError, ApiResult};
use crate::request::Ctx;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PublishVersionRequest {
    pub(crate) code_sha256: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) revision_id: Option<String>,
}

/// Publishes `$LATEST` of the function `r` names as its next version, or answers the newest
/// version when `$LATEST` has not changed since (as Lambda does). `in_update` is set when the
/// publishing is part of an update (`Publish: true`), which is itself the update in progress.
pub(crate) async fn publish(
    app: &App,
    ctx: &Ctx,
    r: &FunctionRef,
    req: &PublishVersionRequest,
    in_update: bool,
) -> ApiResult<FunctionConfiguration> {
    let arn = function_arn(&ctx.region, &app.account, &r.name);
    for _ in 0..64 {
        let latest = app
            .store
            .get_function(&r.name)
            .await?
            .ok_or_else(|| not_found(app, ctx, r))?;
        latest.check_revision(req.revision_id.as_deref())?;
        if let Some(sha) = req.code_sha256.as_deref() {
            if sha != latest.code.sha256_base64 {
                return Err(LambdaError::invalid_parameter(format!(
                    "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again with the CodeSHA256 in $LATEST.",
                    latest.code.sha256_base64
                ))
                .into());
            }
        }
        if !in_update {
            latest.ensure_updatable(&arn)?;
        }
        if let Some(newest) = app.store.newest_version(&r.name).await? {
            if latest.unchanged_since(&newest) {
                return Ok(newest.configuration_as(&ctx.region, &app.account, newest.version));
            }
        }
        let mut snapshot = latest.published(req.description.as_deref(), now_ms(), new_revision());
        match app
            .store
            .publish_version(&snapshot, &latest.revision_id)
            .await
        {
            Ok(n) => {
                snapshot.version = Some(n);
                tracing::info!(function = %r.name, version = n, "version published");
                return Ok(snapshot.configuration_as(&ctx.region, &app.account, Some(n)));
            }
            Err(StoreError::RevisionMismatch(_)) => continue,
            Err(StoreError::NotFound(_)) => return Err(not_found(app, ctx, r)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal(format!(
        "function {} kept changing under 64 attempts to publish it",
        r.name
    )))
}

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let r = unqualified_ref(&app, &ctx, &name)?;
    let req: PublishVersionRequest = parse_json(&body)?;
    let config = publish(&app, &ctx, &r, &req, false).await?;
    Ok(json(StatusCode::CREATED, &config))
}
