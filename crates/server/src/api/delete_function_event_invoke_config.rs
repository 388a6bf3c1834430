//! DeleteFunctionEventInvokeConfig: `DELETE /2019-09-25/functions/{FunctionName}/event-invoke-config`
//! (204; events already queued keep the settings they are dispatched with from then on).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;

use crate::api::put_function_event_invoke_config::{config_missing, config_qualifier};
use crate::api::qualified_ref;
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
    if !app
        .events
        .delete_event_invoke_config(&r.name, config_qualifier(&r))
        .await?
    {
        return Err(config_missing(&app, &ctx, &r));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
