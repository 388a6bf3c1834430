//! ListAliases: `GET /2015-03-31/functions/{FunctionName}/aliases`, by name, at most 50 a
//! page, optionally only those routing to one version.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::alias::validate_function_version;
use nimbus_model::function_arn;
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
    let version = query_param(&q, "FunctionVersion").filter(|v| !v.is_empty());
    if let Some(v) = version {
        validate_function_version(v)?;
    }
    let mut after = decode_marker(&q, "ListAliases")?;
    let f = load_latest(&app, &ctx, &r).await?;
    let arn = function_arn(&ctx.region, &app.account, &f.name);
    // Filtered pages are filled from as many stored pages as it takes.
    let mut page = Vec::new();
    let mut more = false;
    loop {
        let batch = app
            .store
            .list_aliases(&f.name, after.as_deref(), limit + 1)
            .await?;
        let exhausted = batch.len() <= limit;
        for a in batch {
            after = Some(a.name.clone());
            let routes_there = version
                .is_none_or(|v| a.function_version == v || a.additional_versions.contains_key(v));
            if routes_there {
                if page.len() == limit {
                    more = true;
                    break;
                }
                page.push(a);
            }
        }
        if more || exhausted {
            break;
        }
    }
    let next = more
        .then(|| page.last().map(|a| encode_marker(&a.name)))
        .flatten();
    let aliases: Vec<_> = page.iter().map(|a| a.configuration(&arn)).collect();
    let mut body = json!({ "Aliases": aliases });
    if let Some(n) = next {
        body["NextMarker"] = json!(n);
    }
    Ok(json(StatusCode::OK, &body))
}
