//! ListFunctionUrlConfigs: `GET /2021-10-31/functions/{FunctionName}/urls`, by qualifier, at
//! most 50 a page.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::LambdaError;
use serde_json::json;

use crate::api::create_function_url_config::url_function_arn;
use crate::api::{decode_marker, encode_marker, json, query_pairs, query_param, unqualified_ref};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

/// AWS compat: the model's `MaxItems` of this operation, 1-50.
fn max_items(raw: Option<&str>) -> ApiResult<usize> {
    let Some(raw) = raw else { return Ok(50) };
    let fail = |c: &str| {
        LambdaError::validation(format!(
            "1 validation error detected: Value '{raw}' at 'maxItems' failed to satisfy constraint: {c}"
        ))
    };
    let n: i64 = raw.parse().map_err(|_| fail("Member must be a number"))?;
    if n < 1 {
        return Err(fail("Member must have value greater than or equal to 1").into());
    }
    if n > 50 {
        return Err(fail("Member must have value less than or equal to 50").into());
    }
    Ok(usize::try_from(n).unwrap_or(50))
}

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let r = unqualified_ref(&app, &ctx, &name)?;
    let q = query_pairs(query.as_deref());
    let limit = max_items(query_param(&q, "MaxItems"))?;
    // Markers name the last qualifier after a '/' (the unqualified URL's is empty).
    let after = match decode_marker(&q, "ListFunctionUrlConfigs")? {
        None => None,
        Some(m) => Some(m.strip_prefix('/').map(str::to_string).ok_or_else(|| {
            LambdaError::invalid_parameter(
                "Invalid Marker: it must be a NextMarker returned by ListFunctionUrlConfigs.",
            )
        })?),
    };
    if app.store.get_function(&r.name).await?.is_none() {
        // AWS compat: spec §5 #3.
        return Err(LambdaError::not_found("Function does not exist").into());
    }
    let mut page = app
        .urls
        .list_urls(&r.name, after.as_deref(), limit + 1)
        .await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let configs: Vec<_> = page
        .iter()
        .map(|u| u.wire(&app.url_of(u), &url_function_arn(&app, &ctx.region, u)))
        .collect();
    let mut body = json!({ "FunctionUrlConfigs": configs });
    if more {
        if let Some(last) = page.last() {
            body["NextMarker"] = json!(encode_marker(&format!("/{}", last.qualifier)));
        }
    }
    Ok(json(StatusCode::OK, &body))
}
