//! UntagResource: `DELETE /2017-03-31/tags/{Resource}?tagKeys=...`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use nimbus_model::LambdaError;

use crate::api::query_pairs;
use crate::api::tag_resource::{gone, tagged_function};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let keys: Vec<String> = query_pairs(query.as_deref())
        .into_iter()
        .filter(|(k, _)| k == "tagKeys")
        .map(|(_, v)| v)
        .collect();
    if keys.is_empty() {
        return Err(LambdaError::required("tagKeys").into());
    }
    let f = tagged_function(&app, &ctx, &resource).await?;
    app.modify_function(&f.name, |f| {
        let mut next = f.clone();
        for k in &keys {
            next.tags.remove(k);
        }
        Ok(next)
    })
    .await?
    .ok_or_else(|| gone(&app, &ctx, &f.name))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
