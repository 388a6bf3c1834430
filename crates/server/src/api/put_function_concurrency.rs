//! PutFunctionConcurrency: `PUT /2017-10-31/functions/{FunctionName}/concurrency`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::{FunctionRef, LambdaError};
use serde::Deserialize;
use serde_json::json;

use crate::api::{json, not_found, parse_json, unqualified_ref};
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutFunctionConcurrencyRequest {
    reserved_concurrent_executions: Option<i64>,
}

/// Sets (or, with `None`, removes) the reservation of the function `r` names, refusing one
/// that would leave less than the unreserved minimum to the rest of the account.
pub(crate) async fn set_reservation(
    app: &App,
    ctx: &Ctx,
    r: &FunctionRef,
    reserved: Option<u32>,
) -> ApiResult<()> {
    let _changing = app.reservations.lock().await;
    let total = app.store.usage().await?.reserved_concurrency;
    let (_, next) = app
        .modify_function(&r.name, |f| {
            let others = total.saturating_sub(u64::from(f.reserved_concurrency.unwrap_or(0)));
            let after = others + u64::from(reserved.unwrap_or(0));
            if reserved.is_some() && app.unreserved_after(after) < app.unreserved_minimum {
                return Err(LambdaError::invalid_parameter(format!(
                    "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{}].",
                    app.unreserved_minimum
                ))
                .into());
            }
            let mut next = f.clone();
            next.reserved_concurrency = reserved;
            Ok(next)
        })
        .await?
        .ok_or_else(|| not_found(app, ctx, r))?;
    app.sync_unreserved().await?;
    tracing::info!(function = %next.name, reserved = ?reserved, "reserved concurrency set");
    Ok(())
}

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let r = unqualified_ref(&app, &ctx, &name)?;
    let req: PutFunctionConcurrencyRequest = parse_json(&body)?;
    let n = match req.reserved_concurrent_executions {
        None => {
            return Err(LambdaError::required("reservedConcurrentExecutions")
            .into())
        }
        Some(n) if n < 0 => {
            return Err(LambdaError::validation(format!(
                "1 validation error detected: Value '{n}' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0"
            ))
            .into())
        }
        // More than the whole account can never leave the minimum: the check below says so.
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
    };
    set_reservation(&app, &ctx, &r, Some(n)).await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "ReservedConcurrentExecutions": n }),
    ))
}
