//! Prometheus metrics at `/metrics` (the text exposition format, by `prometheus-client`): per
//! function and version the figures of Lambda's CloudWatch metrics (Invocations, Errors,
//! Throttles, Duration, init duration, cold starts, billed GB-seconds), and per server its
//! concurrency, idle environments and asynchronous queue. Counted by the engine's observer
//! at every invocation's end, whatever its source.
//!
//! Who may scrape: a bearer token (`metrics.token`) or a SigV4-signed request.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use nimbus_engine::observe::{InvocationFigures, Observer};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use subtle::ConstantTimeEq;

use crate::app::App;

type Labels = Vec<(&'static str, String)>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

/// 0.5 ms to about 17 minutes, doubling: Lambda's 1 ms to 900 s.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 22))
}

/// The server's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    invocations: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    throttles: Family<Labels, Counter>,
    cold_starts: Family<Labels, Counter>,
    duration: Histograms,
    init_duration: Histograms,
    gb_seconds: Family<Labels, Counter<f64, AtomicU64>>,
    concurrent: Gauge,
    idle: Gauge,
    async_pending: Gauge,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let m = Self {
            invocations: Family::default(),
            errors: Family::default(),
            throttles: Family::default(),
            cold_starts: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            init_duration: Family::new_with_constructor(duration_histogram),
            gb_seconds: Family::default(),
            concurrent: Gauge::default(),
            idle: Gauge::default(),
            async_pending: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "lambda_invocations",
            "Invocations that ran (CloudWatch: Invocations)",
            m.invocations.clone(),
        );
        registry.register(
            "lambda_errors",
            "Invocations that failed: function errors, timeouts, init failures (CloudWatch: Errors)",
            m.errors.clone(),
        );
        registry.register(
            "lambda_throttles",
            "Invocations refused for concurrency (CloudWatch: Throttles)",
            m.throttles.clone(),
        );
        registry.register(
            "lambda_cold_starts",
            "Invocations that began with an init phase",
            m.cold_starts.clone(),
        );
        registry.register(
            "lambda_duration_seconds",
            "How long invocations ran (CloudWatch: Duration)",
            m.duration.clone(),
        );
        registry.register(
            "lambda_init_duration_seconds",
            "Init phases of cold starts (REPORT's Init Duration)",
            m.init_duration.clone(),
        );
        registry.register(
            "lambda_billed_gb_seconds",
            "Billed duration times memory, in GB-seconds",
            m.gb_seconds.clone(),
        );
        registry.register(
            "lambda_concurrent_executions",
            "Invocations running now (CloudWatch: ConcurrentExecutions)",
            m.concurrent.clone(),
        );
        registry.register(
            "nimbus_environments_idle",
            "Warm execution environments waiting for an invocation",
            m.idle.clone(),
        );
        registry.register(
            "lambda_async_events_pending",
            "Asynchronous invocations queued or being dispatched",
            m.async_pending.clone(),
        );
        Self { registry, ..m }
    }

    /// The exposition text, with the gauges read now.
    fn render(&self, app: &App) -> String {
        self.concurrent.set(i64::from(app.engine.running()));
        self.idle
            .set(i64::try_from(app.engine.idle_count()).unwrap_or(i64::MAX));
        self.async_pending
            .set(i64::try_from(app.event_queue.pending()).unwrap_or(i64::MAX));
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

fn labels(function: &str, version: &str) -> Labels {
    vec![
        ("function_name", function.to_string()),
        ("executed_version", version.to_string()),
    ]
}

impl Observer for Metrics {
    fn invocation(&self, f: &InvocationFigures<'_>) {
        let l = labels(f.function, f.version);
        self.invocations.get_or_create(&l).inc();
        if f.error {
            self.errors.get_or_create(&l).inc();
        }
        self.duration
            .get_or_create(&l)
            .observe(f.duration.as_secs_f64());
        if let Some(init) = f.init {
            self.cold_starts.get_or_create(&l).inc();
            self.init_duration
                .get_or_create(&l)
                .observe(init.as_secs_f64());
        }
        // AWS compat: GB-seconds are billed milliseconds times MemorySize/1024.
        let gb_s = f.billed_ms as f64 / 1000.0 * f64::from(f.memory_mb) / 1024.0;
        self.gb_seconds.get_or_create(&l).inc_by(gb_s);
    }

    fn throttled(&self, function: &str, reason: &str) {
        self.throttles
            .get_or_create(&vec![
                ("function_name", function.to_string()),
                ("reason", reason.to_string()),
            ])
            .inc();
    }
}

/// Whether the request carries the configured bearer token, or a good SigV4 signature.
fn allowed(app: &App, headers: &HeaderMap, path_and_query: &str) -> bool {
    if let (Some(token), Some(given)) = (
        app.metrics_token.as_deref(),
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ")),
    ) {
        return given.len() == token.len() && bool::from(given.as_bytes().ct_eq(token.as_bytes()));
    }
    let keys = crate::auth::Keys {
        root: &app.keys,
        sessions: &app.sessions,
    };
    crate::auth::precheck(&keys, headers, std::time::SystemTime::now(), "lambda")
        .and_then(|pre| crate::auth::verify_signature(&pre, "GET", path_and_query, headers, b""))
        .is_ok()
}

/// `GET /metrics`.
pub(crate) async fn scrape(
    State(app): State<Arc<App>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let target = uri.path_and_query().map_or("/metrics", |p| p.as_str());
    if !allowed(&app, &headers, target) {
        return (
            StatusCode::FORBIDDEN,
            "scraping /metrics needs metrics.token as a bearer token, or a SigV4 signature\n",
        )
            .into_response();
    }
    let mut resp = (StatusCode::OK, app.metrics.render(&app)).into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}
