//! GetFunctionRecursionConfig and PutFunctionRecursionConfig:
//! `GET|PUT /2024-08-31/functions/{FunctionName}/recursion-config`. Nimbus records the setting;
//! it has no loop detection of its own to apply it to yet.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::LambdaError;
use serde::Deserialize;
use serde_json::json;

use crate::api::{json, load_latest, not_found, parse_json, unqualified_ref};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRequest {
    recursive_loop: Option<String>,
}

pub(crate) async fn get(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let r = unqualified_ref(&app, &ctx, &name)?;
    let f = load_latest(&app, &ctx, &r).await?;
    let value = f.recursive_loop.as_deref().unwrap_or("Terminate");
    Ok(json(StatusCode::OK, &json!({ "RecursiveLoop": value })))
}

pub(crate) async fn put(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let r = unqualified_ref(&app, &ctx, &name)?;
    let req: PutRequest = parse_json(&body)?;
    let value = match req.recursive_loop.as_deref() {
        None => {
            return Err(LambdaError::required("recursiveLoop")
            .into())
        }
        Some(v @ ("Allow" | "Terminate")) => v.to_string(),
        Some(v) => {
            return Err(LambdaError::validation(format!(
                "1 validation error detected: Value '{v}' at 'recursiveLoop' failed to satisfy constraint: Member must satisfy enum value set: [Allow, Terminate]"
            ))
            .into())
        }
    };
    app.modify_function(&r.name, |f| {
        let mut next = f.clone();
        next.recursive_loop = (value != "Terminate").then(|| value.clone());
        Ok(next)
    })
    .await?
    .ok_or_else(|| not_found(&app, &ctx, &r))?;
    Ok(json(StatusCode::OK, &json!({ "RecursiveLoop": value })))
}
