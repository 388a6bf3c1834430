//! UpdateEventSourceMapping: `PUT /2015-03-31/event-source-mappings/{UUID}`: the settings
//! given change, the rest stay; 202 with State `Updating`, `Enabling` or `Disabling` while the
//! pollers follow.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::esm::{apply, MappingRequest};

use crate::api::create_event_source_mapping::{answer, check_source, target};
use crate::api::get_event_source_mapping::load;
use crate::api::parse_json;
use crate::app::{now_ms, App};
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: MappingRequest = parse_json(&body)?;
    let _one_at_a_time = app.mapping_writes.lock().await;
    let mut m = load(&app, &uuid).await?;
    if let Some(name) = req.function_name.as_deref() {
        let r = target(&app, &ctx, name).await?;
        m.function = r.name;
        m.qualifier = r.qualifier;
    }
    let fifo = check_source(&app, &m.source_arn).await?;
    let was = m.enabled;
    apply(&mut m, &req, fifo)?;
    m.state = match (was, m.enabled) {
        (false, true) => "Enabling",
        (true, false) => "Disabling",
        _ => "Updating",
    }
    .into();
    m.last_modified_ms = now_ms();
    app.events.put_mapping(&m).await?;
    let (app2, m2) = (Arc::clone(&app), m.clone());
    tokio::spawn(async move { crate::esm::sync(&app2, &m2).await });
    Ok(answer(&app, &ctx, &m, StatusCode::ACCEPTED))
}
