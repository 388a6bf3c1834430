//! GetAccountSettings: `GET /2016-08-19/account-settings`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use nimbus_model::limits::{MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES, TOTAL_CODE_SIZE};
use serde_json::json;

use crate::api::json;
use crate::app::App;
use crate::error::ApiResult;

pub(crate) async fn handle(State(app): State<Arc<App>>) -> ApiResult<Response> {
    let usage = app.store.usage().await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "AccountLimit": {
                "TotalCodeSize": TOTAL_CODE_SIZE,
                "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
                "CodeSizeZipped": MAX_ZIPPED_BYTES,
                "ConcurrentExecutions": app.concurrent_executions,
                "UnreservedConcurrentExecutions": app.unreserved_after(usage.reserved_concurrency),
            },
            "AccountUsage": {
                "TotalCodeSize": usage.total_code_size,
                "FunctionCount": usage.function_count,
            },
        }),
    ))
}
