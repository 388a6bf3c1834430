//! The Lambda Runtime API (`/2018-06-01/runtime/...`) of one execution environment, served on
//! the listener its launcher made, by the server's own event loop.

use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

/// AWS compat: the buffered response limit the runtime side enforces (6 MiB + 100 bytes).
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;

/// One invocation handed to the runtime.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) request_id: String,
    pub(crate) deadline_ms: i64,
    pub(crate) invoked_arn: String,
    pub(crate) trace_id: String,
    pub(crate) client_context: Option<String>,
    pub(crate) payload: Vec<u8>,
    pub(crate) reply: oneshot::Sender<Outcome>,
}

/// How the runtime finished an invocation.
#[derive(Debug)]
pub(crate) enum Outcome {
    Response(Bytes),
    Error { error_type: String, body: Bytes },
    ResponseTooLarge,
}

/// How the runtime finished its init phase.
#[derive(Debug)]
pub(crate) enum InitSignal {
    Ready,
    Error { error_type: String, body: Bytes },
}

#[derive(Debug)]
enum Phase {
    Init,
    Idle,
    Busy {
        request_id: String,
        reply: Option<oneshot::Sender<Outcome>>,
    },
}

/// The Runtime API state of one environment.
pub(crate) struct RuntimeApi {
    phase: Mutex<Phase>,
    init: Mutex<Option<oneshot::Sender<InitSignal>>>,
    events: tokio::sync::Mutex<mpsc::Receiver<Event>>,
}

impl RuntimeApi {
    /// A fresh API in its init phase; returns where to send events and how init ends.
    pub(crate) fn new() -> (
        Arc<Self>,
        mpsc::Sender<Event>,
        oneshot::Receiver<InitSignal>,
    ) {
        let (tx, rx) = mpsc::channel(1);
        let (init_tx, init_rx) = oneshot::channel();
        let api = Arc::new(Self {
            phase: Mutex::new(Phase::Init),
            init: Mutex::new(Some(init_tx)),
            events: tokio::sync::Mutex::new(rx),
        });
        (api, tx, init_rx)
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn take_init(&self) -> Option<oneshot::Sender<InitSignal>> {
        self.init
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Takes the reply channel of invocation `id`, if it is the one in progress.
    fn take_reply(&self, id: &str) -> Option<oneshot::Sender<Outcome>> {
        let mut phase = self.phase();
        match &mut *phase {
            Phase::Busy { request_id, reply } if request_id == id => {
                let r = reply.take();
                *phase = Phase::Idle;
                r
            }
            _ => None,
        }
    }
}

/// The routes, for one environment.
pub(crate) fn router(api: Arc<RuntimeApi>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(api)
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "errorMessage": message, "errorType": error_type })),
    )
        .into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({ "status": "OK" }))).into_response()
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> Response {
    // The first `next` ends the init phase.
    if let Some(init) = api.take_init() {
        let _ = init.send(InitSignal::Ready);
    }
    {
        let mut phase = api.phase();
        if let Phase::Busy { reply: Some(_), .. } = &*phase {
            // The runtime moved on without answering: the invocation ends with no result.
            tracing::warn!("runtime asked for the next event without answering the current one");
        }
        *phase = Phase::Idle;
    }
    let Some(ev) = api.events.lock().await.recv().await else {
        return runtime_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "the environment is shutting down",
        );
    };
    *api.phase() = Phase::Busy {
        request_id: ev.request_id.clone(),
        reply: Some(ev.reply),
    };
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put("Lambda-Runtime-Aws-Request-Id", &ev.request_id);
    put("Lambda-Runtime-Deadline-Ms", &ev.deadline_ms.to_string());
    put("Lambda-Runtime-Invoked-Function-Arn", &ev.invoked_arn);
    put("Lambda-Runtime-Trace-Id", &ev.trace_id);
    if let Some(cc) = &ev.client_context {
        put("Lambda-Runtime-Client-Context", cc);
    }
    put("Content-Type", "application/json");
    (StatusCode::OK, headers, ev.payload).into_response()
}

async fn response(
    State(api): State<Arc<RuntimeApi>>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let bytes = to_bytes(body, MAX_RESPONSE_BYTES).await;
    let Some(reply) = api.take_reply(&id) else {
        return runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        );
    };
    match bytes {
        Ok(b) => {
            let _ = reply.send(Outcome::Response(b));
            accepted()
        }
        Err(_) => {
            let _ = reply.send(Outcome::ResponseTooLarge);
            runtime_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
            )
        }
    }
}

fn error_type(headers: &HeaderMap) -> String {
    headers
        .get("Lambda-Runtime-Function-Error-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unhandled")
        .to_string()
}

async fn error(
    State(api): State<Arc<RuntimeApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = to_bytes(body, MAX_RESPONSE_BYTES).await.unwrap_or_default();
    let Some(reply) = api.take_reply(&id) else {
        return runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        );
    };
    let _ = reply.send(Outcome::Error {
        error_type: error_type(&headers),
        body,
    });
    accepted()
}

async fn init_error(
    State(api): State<Arc<RuntimeApi>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = to_bytes(body, MAX_RESPONSE_BYTES).await.unwrap_or_default();
    let Some(init) = api.take_init() else {
        return runtime_error(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "State transition from Ready to InitError failed for runtime. Error: State transition is not allowed",
        );
    };
    let _ = init.send(InitSignal::Error {
        error_type: error_type(&headers),
        body,
    });
    accepted()
}
