//! AddPermission: `POST /2015-03-31/functions/{FunctionName}/policy`, and what the policy
//! operations share.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::policy::{stale_policy_revision, AddPermissionRequest, Policy, MAX_POLICY_BYTES};
use nimbus_model::{function_arn, ErrorCode, FunctionRef, LambdaError};
use nimbus_store::StoreError;
use serde_json::json;

use crate::api::{ensure_exists, json, not_found, parse_json, qualified_ref};
use crate::app::{new_revision, App};
use crate::error::{ApiError, ApiResult};
use crate::request::Ctx;

/// The function (and qualifier) a policy operation names, checked to exist: its policy key
/// (`""` for the unqualified function) and the resource ARN its statements name.
pub(crate) async fn policy_target(
    app: &App,
    ctx: &Ctx,
    name: &str,
    query: Option<&str>,
) -> ApiResult<(FunctionRef, String, String)> {
    let r = qualified_ref(app, ctx, name, query)?;
    ensure_exists(app, ctx, &r).await?;
    let mut resource = function_arn(&ctx.region, &app.account, &r.name);
    let key = match r.qualifier.as_deref() {
        None | Some("$LATEST") => String::new(),
        Some(q) => {
            resource.push(':');
            resource.push_str(q);
            q.to_string()
        }
    };
    Ok((r, key, resource))
}

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let req: AddPermissionRequest = parse_json(&body)?;
    let (r, key, resource) = policy_target(&app, &ctx, &name, query.as_deref()).await?;
    if r.qualifier.as_deref() == Some("$LATEST") {
        return Err(LambdaError::invalid_parameter(
            "We currently do not support adding policies for $LATEST.",
        )
        .into());
    }
    let statement = req.statement(&resource)?;
    for _ in 0..64 {
        let current = app.store.get_policy(&r.name, &key).await?;
        let expected = current.as_ref().map(|p| p.revision_id.clone());
        if let Some(rev) = req.revision_id.as_deref() {
            if expected.as_deref() != Some(rev) {
                return Err(stale_policy_revision().into());
            }
        }
        let mut statements = current.map(|p| p.statements).unwrap_or_default();
        if statements.iter().any(|s| s.sid == statement.sid) {
            return Err(LambdaError::conflict(format!(
                "The statement id ({}) provided already exists. Please provide a new statement id, or remove the existing statement.",
                statement.sid
            ))
            .into());
        }
        statements.push(statement.clone());
        let next = Policy {
            revision_id: new_revision(),
            statements,
        };
        let size = next.document().len();
        if size > MAX_POLICY_BYTES {
            return Err(LambdaError::new(
                ErrorCode::PolicyLengthExceeded,
                format!(
                    "The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES})."
                ),
            )
            .into());
        }
        match app
            .store
            .put_policy(&r.name, &key, &next, expected.as_deref())
            .await
        {
            Ok(()) => {
                return Ok(json(
                    StatusCode::CREATED,
                    &json!({ "Statement": statement.to_json() }),
                ))
            }
            // Another change came in between: again from what is stored now.
            Err(StoreError::RevisionMismatch(_)) if req.revision_id.is_none() => continue,
            Err(StoreError::RevisionMismatch(_)) => return Err(stale_policy_revision().into()),
            Err(StoreError::NotFound(_)) => return Err(not_found(&app, &ctx, &r)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal(format!(
        "the policy of {} kept changing under 64 attempts to write it",
        r.name
    )))
}
