//! `GET /_nimbus/runtimes`: which program serves which runtime family on this server.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::api::json;
use crate::app::App;

pub(crate) async fn list(State(app): State<Arc<App>>) -> Response {
    let runtimes: Vec<_> = app
        .engine
        .runtimes()
        .describe()
        .into_iter()
        .map(|(family, program, available)| {
            json!({ "Runtimes": family, "Program": program, "Available": available })
        })
        .collect();
    json(
        StatusCode::OK,
        &json!({ "Launcher": app.engine.launcher_name(), "Runtimes": runtimes }),
    )
}
