//! ListVersionsByFunction: `GET /2015-03-31/functions/{FunctionName}/versions`: `$LATEST`
//! first, then the published versions by number, at most 50 a page.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::LambdaError;
use serde_json::json;

use crate::api::list_functions::max_items;
use crate::api::{
    decode_marker, encode_marker, json, load_latest, query_pairs, query_param, unqualified_ref,
};
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
    // The marker is the number of the last version a page held (0: `$LATEST`).
    let after = match decode_marker(&q, "ListVersionsByFunction")? {
        None => None,
        Some(m) => Some(m.parse::<u32>().map_err(|_| {
            LambdaError::invalid_parameter(
                "Invalid Marker: it must be a NextMarker returned by ListVersionsByFunction.",
            )
        })?),
    };
    let latest = load_latest(&app, &ctx, &r).await?;
    let mut items = Vec::with_capacity(limit + 1);
    if after.is_none() {
        items.push((0, latest.configuration(&ctx.region, &app.account).listed()));
    }
    let versions = app
        .store
        .list_versions(&r.name, after.unwrap_or(0), limit + 1 - items.len())
        .await?;
    for v in &versions {
        let n = v.version.unwrap_or(0);
        items.push((
            n,
            v.configuration_as(&ctx.region, &app.account, Some(n))
                .listed(),
        ));
    }
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|(n, _)| encode_marker(&n.to_string()))
    } else {
        None
    };
    let configs: Vec<_> = items.into_iter().map(|(_, c)| c).collect();
    let mut body = json!({ "Versions": configs });
    if let Some(n) = next {
        body["NextMarker"] = json!(n);
    }
    Ok(json(StatusCode::OK, &body))
}
