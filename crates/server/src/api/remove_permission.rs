//! RemovePermission: `DELETE /2015-03-31/functions/{FunctionName}/policy/{StatementId}`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use nimbus_model::policy::{stale_policy_revision, Policy};
use nimbus_model::LambdaError;
use nimbus_store::StoreError;

use crate::api::add_permission::policy_target;
use crate::api::{not_found, query_pairs, query_param};
use crate::app::{new_revision, App};
use crate::error::{ApiError, ApiResult};
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path((name, sid)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let (r, key, _) = policy_target(&app, &ctx, &name, query.as_deref()).await?;
    let q = query_pairs(query.as_deref());
    let wanted = query_param(&q, "RevisionId").map(str::to_string);
    for _ in 0..64 {
        let current = app.store.get_policy(&r.name, &key).await?.ok_or_else(|| {
            LambdaError::not_found("No policy is associated with the given resource.")
        })?;
        if wanted.as_deref().is_some_and(|w| w != current.revision_id) {
            return Err(stale_policy_revision().into());
        }
        let before = current.statements.len();
        let statements: Vec<_> = current
            .statements
            .iter()
            .filter(|s| s.sid != sid)
            .cloned()
            .collect();
        if statements.len() == before {
            return Err(LambdaError::not_found(format!(
                "Statement {sid} is not found in resource policy."
            ))
            .into());
        }
        let next = Policy {
            revision_id: new_revision(),
            statements,
        };
        match app
            .store
            .put_policy(&r.name, &key, &next, Some(&current.revision_id))
            .await
        {
            Ok(()) => return Ok(StatusCode::NO_CONTENT.into_response()),
            Err(StoreError::RevisionMismatch(_)) if wanted.is_none() => continue,
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
