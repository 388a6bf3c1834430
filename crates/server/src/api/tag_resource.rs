//! TagResource: `POST /2017-03-31/tags/{Resource}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use nimbus_model::limits::check_tags;
use nimbus_model::{Function, FunctionRef, LambdaError, ResourceArn};
use serde::Deserialize;

use crate::api::{load_latest, parse_json};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagResourceRequest {
    tags: Option<BTreeMap<String, String>>,
}

/// The function a taggable resource ARN names, in this region and account.
pub(crate) async fn tagged_function(app: &App, ctx: &Ctx, resource: &str) -> ApiResult<Function> {
    let arn = ResourceArn::parse(resource)?;
    let r = FunctionRef {
        name: arn.function,
        qualifier: None,
        region: Some(arn.region),
        account: Some(arn.account),
    };
    r.check_scope(&ctx.region, &app.account)?;
    load_latest(app, ctx, &r).await
}

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(resource): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: TagResourceRequest = parse_json(&body)?;
    let Some(new) = req.tags else {
        return Err(LambdaError::required("tags").into());
    };
    let f = tagged_function(&app, &ctx, &resource).await?;
    app.modify_function(&f.name, |f| {
        let mut next = f.clone();
        next.tags.extend(new.clone());
        check_tags(next.tags.len(), &new)?;
        Ok(next)
    })
    .await?
    .ok_or_else(|| gone(&app, &ctx, &f.name))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A function deleted while it was being tagged.
pub(crate) fn gone(app: &App, ctx: &Ctx, name: &str) -> crate::error::ApiError {
    LambdaError::not_found(format!(
        "Function not found: {}",
        nimbus_model::function_arn(&ctx.region, &app.account, name)
    ))
    .into()
}
