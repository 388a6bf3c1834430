//! GetProvisionedConcurrencyConfig (`?Qualifier=`) and ListProvisionedConcurrencyConfigs
//! (`?List=ALL`): `GET /2019-09-30/functions/{FunctionName}/provisioned-concurrency`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::{function_arn, NameShape};
use serde_json::json;

use crate::api::put_provisioned_concurrency_config::{
    config_body, config_not_found, provisioned_target,
};
use crate::api::{function_ref, json, load_latest, query_pairs, query_param, unqualified};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let q = query_pairs(query.as_deref());
    if query_param(&q, "List") == Some("ALL") {
        return list(&app, &ctx, &name).await;
    }
    let (r, qualifier) = provisioned_target(&app, &ctx, &name, query.as_deref()).await?;
    let f = load_latest(&app, &ctx, &unqualified(&r)).await?;
    let c = f.provisioned.get(&qualifier).ok_or_else(config_not_found)?;
    Ok(json(
        StatusCode::OK,
        &config_body(&app, &f.name, &qualifier, c),
    ))
}

/// ListProvisionedConcurrencyConfigs: every configuration of the function (a function has a
/// few: one per version or alias), by qualifier.
async fn list(app: &App, ctx: &Ctx, name: &str) -> ApiResult<Response> {
    let r = function_ref(app, ctx, name, NameShape::Create, None)?;
    let f = load_latest(app, ctx, &unqualified(&r)).await?;
    let arn = function_arn(&ctx.region, &app.account, &f.name);
    let configs: Vec<_> = f
        .provisioned
        .iter()
        .map(|(q, c)| {
            let mut body = config_body(app, &f.name, q, c);
            body["FunctionArn"] = json!(format!("{arn}:{q}"));
            body
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "ProvisionedConcurrencyConfigs": configs }),
    ))
}
