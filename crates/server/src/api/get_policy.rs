//! GetPolicy: `GET /2015-03-31/functions/{FunctionName}/policy`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::LambdaError;
use serde_json::json;

use crate::api::add_permission::policy_target;
use crate::api::json;
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let (r, key, _) = policy_target(&app, &ctx, &name, query.as_deref()).await?;
    let policy = app
        .store
        .get_policy(&r.name, &key)
        .await?
        .ok_or_else(|| LambdaError::not_found("The resource you requested does not exist."))?;
    Ok(json(
        StatusCode::OK,
        &json!({ "Policy": policy.document(), "RevisionId": policy.revision_id }),
    ))
}
