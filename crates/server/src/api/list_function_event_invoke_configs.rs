//! ListFunctionEventInvokeConfigs: `GET /2019-09-25/functions/{FunctionName}/event-invoke-config/list`,
//! by qualifier, at most 50 a page.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::function_arn;
use serde_json::json;

use crate::api::list_functions::max_items;
use crate::api::put_function_event_invoke_config::function_missing;
use crate::api::{decode_marker, encode_marker, json, query_pairs, query_param, unqualified_ref};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let r = unqualified_ref(&app, &ctx, &name)?;
    let q = query_pairs(query.as_deref());
    let limit = max_items(query_param(&q, "MaxItems"))?;
    let after = decode_marker(&q, "ListFunctionEventInvokeConfigs")?;
    if app.store.get_function(&r.name).await?.is_none() {
        return Err(function_missing());
    }
    let mut page = app
        .events
        .list_event_invoke_configs(&r.name, after.as_deref(), limit + 1)
        .await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let arn = function_arn(&ctx.region, &app.account, &r.name);
    let configs: Vec<_> = page.iter().map(|c| c.wire(&arn)).collect();
    let mut body = json!({ "FunctionEventInvokeConfigs": configs });
    if more {
        if let Some(last) = page.last() {
            body["NextMarker"] = json!(encode_marker(&last.qualifier));
        }
    }
    Ok(json(StatusCode::OK, &body))
}
