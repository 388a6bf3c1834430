//! The Lambda Runtime API (`/2018-06-01/runtime/...`) of one execution environment: its state
//! machine ([`RuntimeApi`]) and the HTTP server in front of it ([`serve`]), run by the server's
//! own event loop on the listener the launcher made.
//!
//! The function on the other side is hostile. The server caps its connections, times out
//! connections that send no complete request head, checks the request id before it reads a
//! body, reads only one body at a time, and bounds every body: whatever the function does, it
//! costs the server a bounded number of descriptors and bytes.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::invocation::{ResponseSink, StreamPart};

/// AWS compat: the buffered response limit the runtime side enforces (6 MiB + 100 bytes).
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;

/// AWS compat: the most a streamed response carries (200 MiB).
pub const MAX_STREAMED_BYTES: u64 = 200 * 1024 * 1024;

/// How much of the server one environment's Runtime API may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApiLimits {
    /// Open connections at once; more wait in the kernel's backlog (the function's cost).
    pub(crate) max_connections: usize,
    /// A connection that sends no complete request head for this long is closed. A runtime
    /// may legitimately keep its connection quiet while its handler runs, so this is at least
    /// the function's timeout.
    pub(crate) idle_timeout: Duration,
}

/// One invocation handed to the runtime.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) delivery: Delivery,
    pub(crate) reply: oneshot::Sender<Outcome>,
    /// Set when the runtime has taken the event: until then it has not run it, and the
    /// invocation may go to another environment.
    pub(crate) delivered: Arc<AtomicBool>,
    /// Where a streamed response goes, if the caller takes one, and the version that runs.
    pub(crate) sink: Option<(ResponseSink, String)>,
}

/// What `next` hands the runtime.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) request_id: String,
    pub(crate) deadline_ms: i64,
    pub(crate) invoked_arn: String,
    pub(crate) trace_id: String,
    pub(crate) client_context: Option<String>,
    pub(crate) payload: Bytes,
}

/// How the runtime finished an invocation.
#[derive(Debug)]
pub(crate) enum Outcome {
    Response(Bytes),
    /// The response went to the invocation's sink; `error` from the stream's trailers.
    Streamed {
        error: Option<(String, Bytes)>,
    },
    Error {
        error_type: String,
        body: Bytes,
    },
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
    Idle,
    /// An invocation is with the runtime; `reply` is taken once its answer starts arriving.
    Busy {
        request_id: String,
        reply: Option<oneshot::Sender<Outcome>>,
        sink: Option<(ResponseSink, String)>,
    },
}

/// The Runtime API state of one environment.
pub(crate) struct RuntimeApi {
    phase: Mutex<Phase>,
    init: Mutex<Option<oneshot::Sender<InitSignal>>>,
    events: tokio::sync::Mutex<mpsc::Receiver<Event>>,
}

/// The right to answer the invocation in progress (one answer per invocation).
pub(crate) struct ReplySlot(oneshot::Sender<Outcome>);

impl ReplySlot {
    pub(crate) fn send(self, outcome: Outcome) {
        // The invocation may have ended (timed out) meanwhile: nobody to tell.
        let _ = self.0.send(outcome);
    }
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
            phase: Mutex::new(Phase::Idle),
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

    /// `GET /next`: ends the init phase on its first call, then waits for an event. `None` when
    /// the environment is ending.
    pub(crate) async fn next(&self) -> Option<Delivery> {
        if let Some(init) = self.take_init() {
            let _ = init.send(InitSignal::Ready);
        }
        {
            let mut phase = self.phase();
            if let Phase::Busy { reply: Some(_), .. } = &*phase {
                // The runtime moved on without answering: the invocation ends with no result.
                tracing::warn!(
                    "runtime asked for the next event without answering the current one"
                );
            }
            *phase = Phase::Idle;
        }
        let ev = self.events.lock().await.recv().await?;
        ev.delivered.store(true, Ordering::SeqCst);
        *self.phase() = Phase::Busy {
            request_id: ev.delivery.request_id.clone(),
            reply: Some(ev.reply),
            sink: ev.sink,
        };
        Some(ev.delivery)
    }

    /// The right to answer invocation `id`, if it is the one in progress and not answered yet,
    /// with its sink (taken: the answer holds it alone, and drops it when done). Checked
    /// before any body is read.
    pub(crate) fn claim_reply(
        &self,
        id: &str,
    ) -> Option<(ReplySlot, Option<(ResponseSink, String)>)> {
        match &mut *self.phase() {
            Phase::Busy {
                request_id,
                reply,
                sink,
            } if request_id == id => reply.take().map(|r| (ReplySlot(r), sink.take())),
            _ => None,
        }
    }

    /// `POST /init/error`: false when the init phase is over.
    pub(crate) fn init_error(&self, error_type: String, body: Bytes) -> bool {
        let Some(init) = self.take_init() else {
            return false;
        };
        let _ = init.send(InitSignal::Error { error_type, body });
        true
    }

    /// Whether the init phase is still on.
    pub(crate) fn in_init(&self) -> bool {
        self.init
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }
}

type HttpResponse = Response<Full<Bytes>>;

fn respond(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> HttpResponse {
    respond(
        status,
        json!({ "errorMessage": message, "errorType": error_type }),
    )
}

/// A refusal sent before the request's body was read: the connection is closed after it, so
/// the body is never read at all.
fn refuse(status: StatusCode, error_type: &str, message: &str) -> HttpResponse {
    let mut r = runtime_error(status, error_type, message);
    r.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    r
}

fn accepted() -> HttpResponse {
    respond(StatusCode::ACCEPTED, json!({ "status": "OK" }))
}

/// AWS compat: an init error after the init phase.
fn init_over() -> HttpResponse {
    refuse(
        StatusCode::FORBIDDEN,
        "InvalidStateTransition",
        "State transition from Ready to InitError failed for runtime. Error: State transition is not allowed",
    )
}

fn invalid_request_id() -> HttpResponse {
    refuse(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "Invalid request ID",
    )
}

fn error_type(req: &Request<Incoming>) -> String {
    req.headers()
        .get("Lambda-Runtime-Function-Error-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unhandled")
        .to_string()
}

/// The body, within [`MAX_RESPONSE_BYTES`]; `None` beyond it or when the connection failed.
async fn read_body(body: Incoming) -> Result<Bytes, BodyError> {
    match Limited::new(body, MAX_RESPONSE_BYTES).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(BodyError::TooLarge)
        }
        Err(_) => Err(BodyError::Broken),
    }
}

enum BodyError {
    TooLarge,
    Broken,
}

fn declared_too_large(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
}

fn too_large() -> HttpResponse {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        &format!("Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
    )
}

async fn handle(api: Arc<RuntimeApi>, req: Request<Incoming>) -> HttpResponse {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return refuse(StatusCode::NOT_FOUND, "NotFound", "no such route");
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match (req.method(), parts.as_slice()) {
        (&Method::GET, ["invocation", "next"]) => next(&api).await,
        (&Method::POST, ["invocation", id, kind @ ("response" | "error")]) => {
            let is_error = *kind == "error";
            let Some((slot, sink)) = api.claim_reply(id) else {
                return invalid_request_id();
            };
            match response_mode(&req) {
                Some(Err(())) if !is_error => {
                    // AWS compat: the emulator's answer to a mode it does not know.
                    slot.send(Outcome::Error {
                        error_type: "Runtime.InvalidResponseModeHeader".into(),
                        body: Bytes::from(
                            json!({ "errorType": "Runtime.InvalidResponseModeHeader", "errorMessage": "Invalid function response mode" })
                                .to_string(),
                        ),
                    });
                    return refuse(
                        StatusCode::BAD_REQUEST,
                        "InvalidFunctionResponseMode",
                        "Invalid function response mode",
                    );
                }
                Some(Ok(())) if !is_error => return stream_response(req, slot, sink).await,
                _ => {}
            }
            if declared_too_large(&req) {
                slot.send(Outcome::ResponseTooLarge);
                return too_large();
            }
            let error_type = error_type(&req);
            match read_body(req.into_body()).await {
                Ok(body) if is_error => {
                    slot.send(Outcome::Error { error_type, body });
                    accepted()
                }
                Ok(body) => {
                    slot.send(Outcome::Response(body));
                    accepted()
                }
                Err(BodyError::TooLarge) => {
                    slot.send(Outcome::ResponseTooLarge);
                    too_large()
                }
                // The connection broke mid-body: the invocation gets no answer from it.
                Err(BodyError::Broken) => refuse(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequest",
                    "the request body could not be read",
                ),
            }
        }
        (&Method::POST, ["init", "error"]) => {
            // Checked before the body is read, and again after (a `/next` may come between).
            if !api.in_init() {
                return init_over();
            }
            let error_type = error_type(&req);
            let body = read_body(req.into_body()).await.unwrap_or_default();
            if api.init_error(error_type, body) {
                accepted()
            } else {
                init_over()
            }
        }
        _ => refuse(StatusCode::NOT_FOUND, "NotFound", "no such route"),
    }
}

/// `Lambda-Runtime-Function-Response-Mode`: none (buffered), `streaming` (chunked, errors in
/// the trailers), or a mode there is not.
fn response_mode(req: &Request<Incoming>) -> Option<Result<(), ()>> {
    let v = req.headers().get("Lambda-Runtime-Function-Response-Mode")?;
    Some(match v.to_str() {
        Ok(m) if m.eq_ignore_ascii_case("streaming") => Ok(()),
        _ => Err(()),
    })
}

/// The error a stream's trailers report: `Lambda-Runtime-Function-Error-Type` and the
/// base64 `Lambda-Runtime-Function-Error-Body` (taken as it is if it is not base64).
fn trailer_error(trailers: &hyper::HeaderMap) -> Option<(String, Bytes)> {
    use base64::Engine as _;
    let error_type = trailers
        .get("Lambda-Runtime-Function-Error-Type")?
        .to_str()
        .ok()?
        .to_string();
    let raw = trailers
        .get("Lambda-Runtime-Function-Error-Body")
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    let body = base64::engine::general_purpose::STANDARD
        .decode(&raw)
        .unwrap_or(raw);
    let body = if body.is_empty() {
        Bytes::from(
            json!({ "errorType": error_type, "errorMessage": "the response stream ended with an error" })
                .to_string(),
        )
    } else {
        Bytes::from(body)
    };
    Some((error_type, body))
}

/// A streamed response: each chunk to the invocation's sink as it arrives (or, with none,
/// buffered within the buffered limit, as Invoke answers a streaming function), bounded by
/// [`MAX_STREAMED_BYTES`]; its trailers may end it with an error.
async fn stream_response(
    req: Request<Incoming>,
    slot: ReplySlot,
    sink_and_version: Option<(ResponseSink, String)>,
) -> HttpResponse {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = req.into_body();
    let streaming_to_caller = sink_and_version.is_some();
    let mut sink = None;
    if let Some((s, executed_version)) = sink_and_version {
        let start = StreamPart::Start {
            content_type,
            executed_version,
        };
        // A caller already gone: the function runs on, its answer discarded.
        sink = s.send(start).await.is_ok().then_some(s);
    }
    let mut buffered: Vec<u8> = Vec::new();
    let mut total: u64 = 0;
    let mut error = None;
    loop {
        let frame = match body.frame().await {
            None => break,
            Some(Ok(f)) => f,
            Some(Err(_)) => {
                let broke = (
                    "Runtime.TruncatedResponse".to_string(),
                    Bytes::from(
                        json!({ "errorType": "Runtime.TruncatedResponse", "errorMessage": "the runtime's response stream broke off" })
                            .to_string(),
                    ),
                );
                slot.send(if streaming_to_caller {
                    Outcome::Streamed { error: Some(broke) }
                } else {
                    Outcome::Error {
                        error_type: broke.0,
                        body: broke.1,
                    }
                });
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequest",
                    "the request body could not be read",
                );
            }
        };
        let data = match frame.into_data() {
            Ok(d) => d,
            Err(frame) => {
                if let Ok(t) = frame.into_trailers() {
                    error = trailer_error(&t);
                }
                continue;
            }
        };
        total += data.len() as u64;
        if total > MAX_STREAMED_BYTES || (!streaming_to_caller && total > MAX_RESPONSE_BYTES as u64)
        {
            let limit = if streaming_to_caller {
                MAX_STREAMED_BYTES
            } else {
                MAX_RESPONSE_BYTES as u64
            };
            if streaming_to_caller {
                slot.send(Outcome::Streamed {
                    error: Some((
                        "Function.ResponseSizeTooLarge".into(),
                        Bytes::from(json!({
                            "errorType": "Function.ResponseSizeTooLarge",
                            "errorMessage": format!("Response payload size exceeded maximum allowed payload size ({limit} bytes)."),
                        }).to_string()),
                    )),
                });
            } else {
                slot.send(Outcome::ResponseTooLarge);
            }
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("Exceeded maximum allowed payload size ({limit} bytes)."),
            );
        }
        if let Some(s) = &sink {
            if s.send(StreamPart::Chunk(data)).await.is_err() {
                sink = None;
            }
        } else if !streaming_to_caller {
            buffered.extend_from_slice(&data);
        }
    }
    drop(sink);
    slot.send(match (streaming_to_caller, error) {
        (true, error) => Outcome::Streamed { error },
        (false, Some((error_type, body))) => Outcome::Error { error_type, body },
        (false, None) => Outcome::Response(Bytes::from(buffered)),
    });
    accepted()
}

async fn next(api: &RuntimeApi) -> HttpResponse {
    let Some(ev) = api.next().await else {
        return runtime_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "the environment is shutting down",
        );
    };
    let mut r = Response::new(Full::new(ev.payload));
    let headers = r.headers_mut();
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
    r
}

/// Connections open to every environment's Runtime API in this process.
static OPEN_CONNECTIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

pub(crate) fn open_connections() -> usize {
    OPEN_CONNECTIONS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Counts one open connection while it lives.
struct OpenConnection;

impl OpenConnection {
    fn new() -> Self {
        OPEN_CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        OPEN_CONNECTIONS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Serves `api` on `listener` until the task is aborted; aborting it ends every connection.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    api: Arc<RuntimeApi>,
    limits: ApiLimits,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // At the cap, connections wait in the listen backlog, inside the sandbox's namespace.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        while connections.try_join_next().is_some() {}
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors, say: try again shortly rather than spin.
                tracing::warn!(error = %e, "runtime API accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let api = Arc::clone(&api);
        let open = OpenConnection::new();
        connections.spawn(async move {
            let _open = open;
            let service = hyper::service::service_fn(move |req| {
                let api = Arc::clone(&api);
                async move { Ok::<_, Infallible>(handle(api, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.idle_timeout)
                .max_buf_size(64 * 1024)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "runtime API connection ended");
            }
            drop(slot);
        });
    }
}
