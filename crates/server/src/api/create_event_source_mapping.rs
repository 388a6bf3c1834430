//! CreateEventSourceMapping: `POST /2015-03-31/event-source-mappings` (SQS queues of this
//! server): 202 with State `Creating`; the pollers start in the background.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::esm::{apply, EventSourceMapping, MappingRequest, DEFAULT_SQS_BATCH_SIZE};
use nimbus_model::{function_arn, FunctionRef, LambdaError, NameShape};

use crate::api::{ensure_exists, function_ref, json, parse_json};
use crate::app::{now_ms, App};
use crate::error::{ApiError, ApiResult};
use crate::request::Ctx;

/// The queue a source ARN names, checked: an SQS queue of this server that exists; whether
/// it is FIFO.
pub(crate) async fn check_source(app: &App, arn: &str) -> ApiResult<bool> {
    if !arn.starts_with("arn:aws:sqs:") {
        return Err(LambdaError::invalid_parameter(format!(
            "Unrecognized event source: Nimbus maps SQS queues of its own queue service only, not {arn}."
        ))
        .into());
    }
    let missing = || -> ApiError {
        // AWS compat: the words Lambda relays from SQS.
        LambdaError::invalid_parameter("Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does not exist for this wsdl version.").into()
    };
    let name = crate::sqs::queue_of_arn(app, arn).ok_or_else(missing)?;
    let q = app
        .queue_store
        .get_queue(name)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(missing)?;
    Ok(q.fifo)
}

/// The function a mapping's `FunctionName` names, which must exist.
pub(crate) async fn target(app: &App, ctx: &Ctx, name: &str) -> ApiResult<FunctionRef> {
    let r = function_ref(app, ctx, name, NameShape::Namespaced, None)?;
    ensure_exists(app, ctx, &r).await?;
    Ok(r)
}

/// The answer: the mapping's configuration with `state` (a transition's, while it runs).
pub(crate) fn answer(app: &App, ctx: &Ctx, m: &EventSourceMapping, status: StatusCode) -> Response {
    let arn = function_arn(&ctx.region, &app.account, &m.function);
    json(status, &m.configuration(&ctx.region, &app.account, &arn))
}

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: MappingRequest = parse_json(&body)?;
    let name = req
        .function_name
        .as_deref()
        .ok_or_else(|| LambdaError::required("functionName"))?;
    let source = req
        .event_source_arn
        .clone()
        .ok_or_else(|| LambdaError::invalid_parameter("Unrecognized event source."))?;
    let r = target(&app, &ctx, name).await?;
    let fifo = check_source(&app, &source).await?;
    let mut m = EventSourceMapping {
        uuid: uuid::Uuid::new_v4().to_string(),
        function: r.name.clone(),
        qualifier: r.qualifier.clone(),
        source_arn: source.clone(),
        batch_size: DEFAULT_SQS_BATCH_SIZE,
        batching_window_seconds: 0,
        filters: Vec::new(),
        report_batch_item_failures: false,
        maximum_concurrency: None,
        enabled: true,
        state: "Creating".into(),
        last_modified_ms: now_ms(),
    };
    apply(&mut m, &req, fifo)?;
    let _one_at_a_time = app.mapping_writes.lock().await;
    let existing = app
        .events
        .list_mappings(Some(&r.name), Some(&source), None, 1)
        .await?;
    if let Some(e) = existing.first() {
        return Err(LambdaError::conflict(format!(
            "An event source mapping with SQS arn (\" {source} \") and function (\" {} \") already exists. Please update or delete the existing mapping with UUID {}",
            r.name, e.uuid
        ))
        .into());
    }
    if !m.enabled {
        m.state = "Disabled".into();
    }
    app.events.put_mapping(&m).await?;
    let (app2, m2) = (Arc::clone(&app), m.clone());
    tokio::spawn(async move { crate::esm::sync(&app2, &m2).await });
    Ok(answer(&app, &ctx, &m, StatusCode::ACCEPTED))
}
