//! `GET /_nimbus/runtimes`: which program serves which runtime family on this server, and the
//! AWS SDK each provides.

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
        .map(|r| {
            let sdk = r.sdk.map(|s| {
                let packages: serde_json::Map<String, serde_json::Value> = s
                    .packages
                    .into_iter()
                    .map(|(n, v)| (n, serde_json::Value::String(v)))
                    .collect();
                json!({ "Dir": s.dir.display().to_string(), "Packages": packages })
            });
            let mut v = json!({
                "Runtimes": r.family,
                "Program": r.program,
                "Available": r.available,
            });
            // Absent where no SDK belongs; null where one belongs but is not installed.
            if r.provides_sdk {
                v["Sdk"] = sdk.unwrap_or(serde_json::Value::Null);
            }
            v
        })
        .collect();
    json(
        StatusCode::OK,
        &json!({ "Launcher": app.engine.launcher_name(), "Runtimes": runtimes }),
    )
}
