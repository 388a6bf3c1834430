//! DeleteEventSourceMapping: `DELETE /2015-03-31/event-source-mappings/{UUID}`: 202 with the
//! mapping, State `Deleting`; its pollers stop (a batch in flight finishes).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;

use crate::api::create_event_source_mapping::answer;
use crate::api::get_event_source_mapping::load;
use crate::app::App;
use crate::error::ApiResult;
use crate::request::Ctx;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(uuid): Path<String>,
) -> ApiResult<Response> {
    let _one_at_a_time = app.mapping_writes.lock().await;
    let mut m = load(&app, &uuid).await?;
    app.events.delete_mapping(&uuid).await?;
    app.pollers.stop(&uuid);
    m.state = "Deleting".into();
    Ok(answer(&app, &ctx, &m, StatusCode::ACCEPTED))
}
