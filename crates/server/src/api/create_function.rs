//! CreateFunction: `POST /2015-03-31/functions`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use base64::Engine;
use nimbus_model::{
    CodeSource, CreateFunctionRequest, Function, FunctionRef, LambdaError, NameShape,
    State as FnState,
};
use nimbus_store::StoreError;

use crate::api::publish_version::{publish, PublishVersionRequest};
use crate::api::{json, parse_json_async};
use crate::app::{new_revision, now_ms, App};
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: CreateFunctionRequest = parse_json_async(body).await?;
    let Some(name) = req.function_name.as_deref() else {
        return Err(LambdaError::required("functionName").into());
    };
    let r = FunctionRef::parse(name, NameShape::Create)?;
    r.check_scope(&ctx.region, &app.account)?;
    if r.qualifier.is_some() {
        return Err(LambdaError::invalid_parameter(format!(
            "Unqualified function name expected; '{name}' names a version or alias."
        ))
        .into());
    }
    let mut settings = req.validate()?;
    let Some(code) = req.code.as_ref() else {
        return Err(LambdaError::required("code").into());
    };
    let CodeSource::Zip(zip_b64) = code.source()?;
    let zip = decode_zip_async(zip_b64).await?;
    if app.store.get_function(&r.name).await?.is_some() {
        return Err(already_exists(&r.name));
    }
    let tags = req.tags.clone().unwrap_or_default();
    settings
        .logging
        .log_group
        .get_or_insert_with(|| format!("/aws/lambda/{}", r.name));
    let _shared = app.code_lock.read().await;
    let store = app.code.clone();
    let code = tokio::task::spawn_blocking(move || store.put(&zip))
        .await
        .map_err(crate::error::ApiError::internal)??;
    let f = Function {
        name: r.name.clone(),
        settings,
        code,
        last_modified_ms: now_ms(),
        revision_id: new_revision(),
        state: FnState::Pending,
        last_update: None,
        tags,
        reserved_concurrency: None,
        version: None,
        recursive_loop: None,
        provisioned: Default::default(),
    };
    match app.store.create_function(&f).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists(n)) => return Err(already_exists(&n)),
        Err(e) => return Err(e.into()),
    }
    drop(_shared);
    tracing::info!(function = %f.name, code_sha256 = %f.code.sha256_hex, "function created");
    app.activate(f.name.clone());
    if req.publish == Some(true) {
        // AWS compat: the answer is version 1's configuration.
        let config = publish(&app, &ctx, &r, &PublishVersionRequest::default(), true).await?;
        return Ok(json(StatusCode::CREATED, &config));
    }
    Ok(json(
        StatusCode::CREATED,
        &f.configuration(&ctx.region, &app.account),
    ))
}

fn already_exists(name: &str) -> crate::error::ApiError {
    LambdaError::conflict(format!("Function already exist: {name}")).into()
}

/// The `ZipFile` blob, base64 in JSON.
/// [`decode_zip`] on the blocking pool (a package's base64 is up to 70 MB).
pub(crate) async fn decode_zip_async(b64: String) -> ApiResult<Vec<u8>> {
    tokio::task::spawn_blocking(move || decode_zip(&b64))
        .await
        .map_err(crate::error::ApiError::internal)?
}

pub(crate) fn decode_zip(b64: &str) -> ApiResult<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| {
            LambdaError::new(
                nimbus_model::ErrorCode::InvalidRequestContent,
                "Could not parse request body into json: ZipFile is not valid base64.",
            )
            .into()
        })
}
