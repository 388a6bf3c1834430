//! DeleteFunction: `DELETE /2015-03-31/functions/{FunctionName}`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use nimbus_model::{FunctionRef, LambdaError};
use nimbus_store::StoreError;

use crate::api::{load_latest, not_found, qualified_ref, Qualifier};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let r = qualified_ref(&app, &ctx, &name, query.as_deref())?;
    if r.qualifier.as_deref() == Some("$LATEST") {
        return Err(LambdaError::invalid_parameter(
            "$LATEST version cannot be deleted without deleting the function.",
        )
        .into());
    }
    match Qualifier::of(r.qualifier.as_deref()) {
        Qualifier::Latest => {}
        Qualifier::Version(n) => return delete_version(&app, &ctx, &r, n).await,
        Qualifier::Alias(_) => {
            return Err(LambdaError::invalid_parameter(
                "DeleteFunction does not delete aliases: use DeleteAlias.",
            )
            .into())
        }
    }
    let f = load_latest(&app, &ctx, &r).await?;
    // Its reservation, if any, goes back to the account with it.
    let changing = app.reservations.lock().await;
    match app.store.delete_function(&f.name).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(not_found(&app, &ctx, &r)),
        Err(e) => return Err(e.into()),
    }
    app.sync_unreserved().await?;
    drop(changing);
    tracing::info!(function = %f.name, "function deleted");
    app.release_code(&f.code.sha256_hex).await?;
    // AWS compat: the model says 200, AWS answers 204 with no body.
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// DeleteFunction with a version number: that version only. AWS compat: a version that is not
/// there answers 204 too, as long as the function is.
async fn delete_version(app: &App, ctx: &Ctx, r: &FunctionRef, n: u32) -> ApiResult<Response> {
    let _aliasing = app.aliasing.lock().await;
    let number = n.to_string();
    let referring: Vec<String> = app
        .store
        .list_aliases(&r.name, None, usize::MAX)
        .await?
        .into_iter()
        .filter(|a| a.function_version == number || a.additional_versions.contains_key(&number))
        .map(|a| a.name)
        .collect();
    if !referring.is_empty() {
        return Err(LambdaError::conflict(format!(
            "Unable to delete version because the following aliases reference it: [{}]",
            referring.join(", ")
        ))
        .into());
    }
    let Some(v) = app.store.get_version(&r.name, n).await? else {
        if app.store.get_function(&r.name).await?.is_none() {
            return Err(not_found(app, ctx, r));
        }
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    app.store.delete_version(&r.name, n).await?;
    forget_provisioned(app, ctx, &r.name, &number).await?;
    tracing::info!(function = %r.name, version = n, "version deleted");
    app.release_code(&v.code.sha256_hex).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Removes the provisioned concurrency of `function` at `qualifier` (a version or alias being
/// deleted), in the store and the engine.
pub(crate) async fn forget_provisioned(
    app: &App,
    ctx: &Ctx,
    function: &str,
    qualifier: &str,
) -> ApiResult<()> {
    let had = app
        .modify_function(function, |f| {
            let mut next = f.clone();
            next.provisioned.remove(qualifier);
            Ok(next)
        })
        .await?
        .is_some_and(|(before, _)| before.provisioned.contains_key(qualifier));
    if had {
        app.engine
            .set_provisioned(function, qualifier, &ctx.region, 0);
    }
    Ok(())
}
