//! GetFunction: `GET /2015-03-31/functions/{FunctionName}`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::json;

use crate::api::code_location::location_url;
use crate::api::{configuration_for, json, load_qualified, qualified_ref, tags_member};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let r = qualified_ref(&app, &ctx, &name, query.as_deref())?;
    let (latest, f) = load_qualified(&app, &ctx, &r).await?;
    let mut body = json!({
        "Configuration": configuration_for(&app, &ctx, &r, &f),
        "Code": {
            "RepositoryType": "S3",
            "Location": location_url(&app, &ctx, &f),
        },
    });
    // Tags and concurrency are the function's, whichever version is asked for.
    if let Some(tags) = tags_member(&latest.tags) {
        body["Tags"] = json!(tags);
    }
    if let Some(n) = latest.reserved_concurrency {
        body["Concurrency"] = json!({ "ReservedConcurrentExecutions": n });
    }
    Ok(json(StatusCode::OK, &body))
}
