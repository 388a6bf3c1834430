//! UpdateFunctionCode: `PUT /2015-03-31/functions/{FunctionName}/code`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::{
    function_arn, CodeSource, Function, LastUpdateStatus, NameShape, UpdateFunctionCodeRequest,
};

use crate::api::create_function::decode_zip_async;
use crate::api::publish_version::{publish, PublishVersionRequest};
use crate::api::{function_ref, json, load_latest, not_found, parse_json_async};
use crate::app::{new_revision, now_ms, App};
use crate::error::{ApiError, ApiResult};
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let r = function_ref(&app, &ctx, &name, NameShape::Create, None)?;
    let req: UpdateFunctionCodeRequest = parse_json_async(body).await?;
    let (source, architecture) = req.validate()?;
    let f = load_latest(&app, &ctx, &r).await?;
    f.check_revision(req.revision_id.as_deref())?;
    let arn = function_arn(&ctx.region, &app.account, &f.name);
    f.ensure_updatable(&arn)?;
    let CodeSource::Zip(zip_b64) = source;
    let zip = decode_zip_async(zip_b64).await?;
    let store = app.code.clone();
    let mut next = Function {
        last_modified_ms: now_ms(),
        revision_id: new_revision(),
        last_update: Some(LastUpdateStatus::InProgress),
        ..f.clone()
    };
    if let Some(a) = &architecture {
        next.settings.architecture = a.clone();
    }
    if req.dry_run == Some(true) {
        // AWS compat: a dry run checks the package and answers as if updated, storing nothing.
        next.code = tokio::task::spawn_blocking(move || store.check(&zip))
            .await
            .map_err(ApiError::internal)??;
        next.revision_id = f.revision_id.clone();
        return Ok(json(
            StatusCode::OK,
            &next.configuration(&ctx.region, &app.account),
        ));
    }
    let shared = app.code_lock.read().await;
    let code = tokio::task::spawn_blocking(move || store.put(&zip))
        .await
        .map_err(ApiError::internal)??;
    let (f, next) = app
        .modify_function(&r.name, |f| {
            f.check_revision(req.revision_id.as_deref())?;
            f.ensure_updatable(&arn)?;
            let mut next = Function {
                last_modified_ms: now_ms(),
                last_update: Some(LastUpdateStatus::InProgress),
                code: code.clone(),
                ..f.clone()
            };
            if let Some(a) = &architecture {
                next.settings.architecture = a.clone();
            }
            Ok(next)
        })
        .await?
        .ok_or_else(|| not_found(&app, &ctx, &r))?;
    drop(shared);
    tracing::info!(function = %next.name, code_sha256 = %next.code.sha256_hex, "code updated");
    app.activate(next.name.clone());
    if next.code.sha256_hex != f.code.sha256_hex {
        let app2 = Arc::clone(&app);
        let old = f.code.sha256_hex.clone();
        tokio::spawn(async move {
            if let Err(e) = app2.release_code(&old).await {
                tracing::warn!(error = %e, "could not remove an unused code package");
            }
        });
    }
    if req.publish == Some(true) {
        // AWS compat: the answer is the new version's configuration.
        let config = publish(&app, &ctx, &r, &PublishVersionRequest::default(), true).await?;
        return Ok(json(StatusCode::OK, &config));
    }
    Ok(json(
        StatusCode::OK,
        &next.configuration(&ctx.region, &app.account),
    ))
}
