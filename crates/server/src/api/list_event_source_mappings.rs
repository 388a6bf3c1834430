//! ListEventSourceMappings: `GET /2015-03-31/event-source-mappings`, optionally of one
//! function and of one source, by id, `MaxItems` at most 100 a page.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::{function_arn, FunctionRef, NameShape};
use serde_json::json;

use crate::api::list_functions::max_items;
use crate::api::{decode_marker, encode_marker, json, query_pairs, query_param};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let q = query_pairs(query.as_deref());
    let limit = max_items(query_param(&q, "MaxItems"))?.min(100);
    let after = decode_marker(&q, "ListEventSourceMappings")?;
    let function = match query_param(&q, "FunctionName").filter(|f| !f.is_empty()) {
        Some(f) => {
            let r = FunctionRef::parse(f, NameShape::Namespaced)?;
            r.check_scope(&ctx.region, &app.account)?;
            Some(r.name)
        }
        None => None,
    };
    let source = query_param(&q, "EventSourceArn").filter(|s| !s.is_empty());
    let mut page = app
        .events
        .list_mappings(function.as_deref(), source, after.as_deref(), limit + 1)
        .await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let items: Vec<_> = page
        .iter()
        .map(|m| {
            let arn = function_arn(&ctx.region, &app.account, &m.function);
            m.configuration(&ctx.region, &app.account, &arn)
        })
        .collect();
    let mut body = json!({ "EventSourceMappings": items });
    if more {
        if let Some(last) = page.last() {
            body["NextMarker"] = json!(encode_marker(&last.uuid));
        }
    }
    Ok(json(StatusCode::OK, &body))
}
