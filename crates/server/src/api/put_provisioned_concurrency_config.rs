//! PutProvisionedConcurrencyConfig:
//! `PUT /2019-09-30/functions/{FunctionName}/provisioned-concurrency?Qualifier=`, and what the
//! provisioned concurrency operations share.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::function::format_timestamp;
use nimbus_model::{ErrorCode, FunctionRef, LambdaError, ProvisionedConfig};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{
    ensure_exists, json, not_found, parse_json, qualified_ref, unqualified, Qualifier,
};
use crate::app::{now_ms, App};
use crate::error::ApiResult;
use crate::request::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRequest {
    provisioned_concurrent_executions: Option<i64>,
}

/// The function and the (required) version or alias a provisioned concurrency operation
/// names, checked to exist.
pub(crate) async fn provisioned_target(
    app: &App,
    ctx: &Ctx,
    name: &str,
    query: Option<&str>,
) -> ApiResult<(FunctionRef, String)> {
    let r = qualified_ref(app, ctx, name, query)?;
    let Some(qualifier) = r.qualifier.clone() else {
        return Err(LambdaError::required("qualifier").into());
    };
    ensure_exists(app, ctx, &unqualified(&r)).await?;
    if Qualifier::of(Some(&qualifier)) == Qualifier::Latest {
        return Err(LambdaError::invalid_parameter(
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
        )
        .into());
    }
    ensure_exists(app, ctx, &r).await?;
    Ok((r, qualifier))
}

/// `ProvisionedConcurrencyConfigNotFoundException`.
pub(crate) fn config_not_found() -> LambdaError {
    LambdaError::new(
        ErrorCode::ProvisionedConcurrencyConfigNotFound,
        "No Provisioned Concurrency Config found for this function",
    )
}

/// A configuration as Get/Put answer it, with how far the engine got.
pub(crate) fn config_body(app: &App, name: &str, qualifier: &str, c: &ProvisionedConfig) -> Value {
    let status = app.engine.provisioned_status(name, qualifier);
    let allocated = status.as_ref().map_or(0, |s| s.allocated);
    let (state, reason) = match &status {
        Some(s) if s.allocated >= c.requested => ("READY", None),
        Some(nimbus_engine::ProvisionedStatus {
            failure: Some(f), ..
        }) => ("FAILED", Some(f.clone())),
        _ => ("IN_PROGRESS", None),
    };
    let mut body = json!({
        "RequestedProvisionedConcurrentExecutions": c.requested,
        "AvailableProvisionedConcurrentExecutions": allocated,
        "AllocatedProvisionedConcurrentExecutions": allocated,
        "Status": state,
        "LastModified": format_timestamp(c.last_modified_ms),
    });
    if let Some(r) = reason {
        body["StatusReason"] = json!(r);
    }
    body
}

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let req: PutRequest = parse_json(&body)?;
    let (r, qualifier) = provisioned_target(&app, &ctx, &name, query.as_deref()).await?;
    let n = match req.provisioned_concurrent_executions {
        None => {
            return Err(LambdaError::required("provisionedConcurrentExecutions")
            .into())
        }
        Some(n) if n < 1 => {
            return Err(LambdaError::validation(format!(
                "1 validation error detected: Value '{n}' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1"
            ))
            .into())
        }
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
    };
    let unreserved = app.unreserved_after(app.store.usage().await?.reserved_concurrency);
    let config = ProvisionedConfig {
        requested: n,
        region: ctx.region.clone(),
        last_modified_ms: now_ms(),
    };
    let (_, next) = app
        .modify_function(&r.name, |f| {
            let others: u64 = f
                .provisioned
                .iter()
                .filter(|(q, _)| **q != qualifier)
                .map(|(_, c)| u64::from(c.requested))
                .sum();
            let total = others + u64::from(n);
            match f.reserved_concurrency {
                Some(reserved) if total > u64::from(reserved) => {
                    return Err(LambdaError::invalid_parameter(
                        "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function",
                    )
                    .into())
                }
                // Nimbus's words: what the account has left unreserved bounds it otherwise.
                None if total > u64::from(unreserved.saturating_sub(app.unreserved_minimum)) => {
                    return Err(LambdaError::invalid_parameter(format!(
                        "Requested Provisioned Concurrency ({total} in all for this function) is more than the account's unreserved concurrency less its minimum ({}).",
                        unreserved.saturating_sub(app.unreserved_minimum)
                    ))
                    .into())
                }
                _ => {}
            }
            let mut next = f.clone();
            next.provisioned.insert(qualifier.clone(), config.clone());
            Ok(next)
        })
        .await?
        .ok_or_else(|| not_found(&app, &ctx, &r))?;
    app.engine
        .set_provisioned(&next.name, &qualifier, &ctx.region, n);
    tracing::info!(function = %next.name, %qualifier, requested = n, "provisioned concurrency set");
    Ok(json(
        StatusCode::ACCEPTED,
        &config_body(&app, &next.name, &qualifier, &config),
    ))
}
