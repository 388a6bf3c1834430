//! ListFunctions: `GET /2015-03-31/functions`, at most 50 a page.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::limits::LIST_PAGE_MAX;
use nimbus_model::LambdaError;
use serde_json::json;

use crate::api::{decode_marker, encode_marker, json, query_pairs, query_param};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

/// `MaxItems`: 1-10,000 by the model.
pub(crate) fn max_items(raw: Option<&str>) -> ApiResult<usize> {
    let Some(raw) = raw else {
        return Ok(LIST_PAGE_MAX);
    };
    let n: i64 = raw.parse().map_err(|_| {
        LambdaError::validation(format!(
            "1 validation error detected: Value '{raw}' at 'maxItems' failed to satisfy constraint: Member must be a number"
        ))
    })?;
    if n < 1 {
        return Err(LambdaError::validation(format!("1 validation error detected: Value '{n}' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1")).into());
    }
    if n > 10_000 {
        return Err(LambdaError::validation(format!("1 validation error detected: Value '{n}' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 10000")).into());
    }
    Ok(usize::try_from(n)
        .unwrap_or(LIST_PAGE_MAX)
        .min(LIST_PAGE_MAX))
}

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let q = query_pairs(query.as_deref());
    let limit = max_items(query_param(&q, "MaxItems"))?;
    if let Some(v) = query_param(&q, "FunctionVersion") {
        if v != "ALL" {
            return Err(LambdaError::validation(format!("1 validation error detected: Value '{v}' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]")).into());
        }
    }
    if query_param(&q, "FunctionVersion") == Some("ALL") {
        let marker = decode_marker(&q, "ListFunctions")?;
        return list_all_versions(&app, &ctx, marker, limit).await;
    }
    let after = decode_marker(&q, "ListFunctions")?;
    let mut page = app
        .store
        .list_functions(after.as_deref(), limit + 1)
        .await?;
    let next = if page.len() > limit {
        page.truncate(limit);
        page.last().map(|f| encode_marker(&f.name))
    } else {
        None
    };
    let functions: Vec<_> = page
        .iter()
        .map(|f| f.configuration(&ctx.region, &app.account).listed())
        .collect();
    let mut body = json!({ "Functions": functions });
    if let Some(n) = next {
        body["NextMarker"] = json!(n);
    }
    Ok(json(StatusCode::OK, &body))
}

fn bad_marker() -> crate::error::ApiError {
    LambdaError::invalid_parameter(
        "Invalid Marker: it must be a NextMarker returned by ListFunctions.",
    )
    .into()
}

/// `FunctionVersion=ALL`: each function's `$LATEST` and then its published versions, functions
/// by name. The marker names the last item a page held: a function and a version (0 for
/// `$LATEST`).
async fn list_all_versions(
    app: &App,
    ctx: &Ctx,
    marker: Option<String>,
    limit: usize,
) -> ApiResult<Response> {
    let resume: Option<(String, u32)> = match marker {
        None => None,
        Some(text) => {
            let (name, v) = text.split_once('\n').ok_or_else(bad_marker)?;
            Some((name.to_string(), v.parse().map_err(|_| bad_marker())?))
        }
    };
    let mut items: Vec<(String, u32, nimbus_model::FunctionConfiguration)> = Vec::new();
    // The function the marker is inside of, first: its versions after the marker's.
    let mut after_name = resume.as_ref().map(|(n, _)| n.clone());
    if let Some((name, v)) = &resume {
        for ver in app.store.list_versions(name, *v, limit + 1).await? {
            let n = ver.version.unwrap_or(0);
            items.push((
                name.clone(),
                n,
                ver.configuration_as(&ctx.region, &app.account, Some(n))
                    .listed(),
            ));
        }
    }
    'pages: while items.len() <= limit {
        let page = app.store.list_functions(after_name.as_deref(), 50).await?;
        let Some(last) = page.last() else { break };
        after_name = Some(last.name.clone());
        for f in &page {
            items.push((
                f.name.clone(),
                0,
                f.configuration(&ctx.region, &app.account).listed(),
            ));
            if items.len() > limit {
                break 'pages;
            }
            let room = limit + 1 - items.len();
            for ver in app.store.list_versions(&f.name, 0, room).await? {
                let n = ver.version.unwrap_or(0);
                items.push((
                    f.name.clone(),
                    n,
                    ver.configuration_as(&ctx.region, &app.account, Some(n))
                        .listed(),
                ));
            }
            if items.len() > limit {
                break 'pages;
            }
        }
    }
    let next = if items.len() > limit {
        items.truncate(limit);
        items
            .last()
            .map(|(name, v, _)| encode_marker(&format!("{name}\n{v}")))
    } else {
        None
    };
    let functions: Vec<_> = items.into_iter().map(|(_, _, c)| c).collect();
    let mut body = json!({ "Functions": functions });
    if let Some(n) = next {
        body["NextMarker"] = json!(n);
    }
    Ok(json(StatusCode::OK, &body))
}
