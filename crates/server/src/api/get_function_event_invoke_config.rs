//! GetFunctionEventInvokeConfig: `GET /2019-09-25/functions/{FunctionName}/event-invoke-config`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::function_arn;

use crate::api::put_function_event_invoke_config::{config_missing, config_qualifier};
use crate::api::{json, qualified_ref};
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
    let config = app
        .events
        .get_event_invoke_config(&r.name, config_qualifier(&r))
        .await?
        .ok_or_else(|| config_missing(&app, &ctx, &r))?;
    let arn = function_arn(&ctx.region, &app.account, &r.name);
    Ok(json(StatusCode::OK, &config.wire(&arn)))
}
