//! Prometheus metrics at `/metrics` (the text exposition format, by `prometheus-client`): per
//! function and version the figures of Lambda's CloudWatch metrics (Invocations, Errors,
//! Throttles, Duration, init duration, cold starts, billed GB-seconds), and per server its
//! concurrency, idle environments and asynchronous queue. Counted by the engine's observer
//! at every invocation's end, whatever its source; the asynchronous dispatcher counts event
//! ages, drops and failed deliveries; the store's writers time their commits; gauges
//! (environments, provisioned concurrency, Runtime API connections) are read at each scrape.
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

/// 0.1 s to about 7 hours, doubling: MaximumEventAgeInSeconds reaches 6 h.
fn age_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 18))
}

/// 50 µs to about 1.6 s, doubling: a commit, fsync included.
fn commit_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// The store's writers whose commits are timed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StoreWriter {
    /// The log writer's batches.
    Logs,
    /// The asynchronous event queue's group commits.
    Events,
    /// The cost ledger's folds.
    Costs,
}

impl StoreWriter {
    fn label(self) -> &'static str {
        match self {
            Self::Logs => "logs",
            Self::Events => "events",
            Self::Costs => "costs",
        }
    }
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
    event_age: Histograms,
    events_dropped: Family<Labels, Counter>,
    dead_letter_errors: Family<Labels, Counter>,
    destination_failures: Family<Labels, Counter>,
    store_commit: Histograms,
    log_events_dropped: Counter,
    initializing: Gauge,
    standby: Gauge,
    runtime_api_connections: Gauge,
    provisioned_allocated: Family<Labels, Gauge>,
    provisioned_busy: Family<Labels, Gauge>,
    provisioned_utilization: Family<Labels, Gauge<f64, AtomicU64>>,
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
            event_age: Family::new_with_constructor(age_histogram),
            events_dropped: Family::default(),
            dead_letter_errors: Family::default(),
            destination_failures: Family::default(),
            store_commit: Family::new_with_constructor(commit_histogram),
            log_events_dropped: Counter::default(),
            initializing: Gauge::default(),
            standby: Gauge::default(),
            runtime_api_connections: Gauge::default(),
            provisioned_allocated: Family::default(),
            provisioned_busy: Family::default(),
            provisioned_utilization: Family::default(),
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
        registry.register(
            "lambda_async_event_age_seconds",
            "How long asynchronous events waited, at each dispatch (CloudWatch: AsyncEventAge)",
            m.event_age.clone(),
        );
        registry.register(
            "lambda_async_events_dropped",
            "Asynchronous events given up without a successful invocation (CloudWatch: AsyncEventsDropped)",
            m.events_dropped.clone(),
        );
        registry.register(
            "lambda_dead_letter_errors",
            "Failed events that could not be sent to the dead-letter queue (CloudWatch: DeadLetterErrors)",
            m.dead_letter_errors.clone(),
        );
        registry.register(
            "lambda_destination_delivery_failures",
            "Records that could not be sent to a destination (CloudWatch: DestinationDeliveryFailures)",
            m.destination_failures.clone(),
        );
        registry.register(
            "lambda_provisioned_concurrency_allocated",
            "Provisioned environments initialized, per function and qualifier",
            m.provisioned_allocated.clone(),
        );
        registry.register(
            "lambda_provisioned_concurrent_executions",
            "Provisioned environments serving an invocation (CloudWatch: ProvisionedConcurrentExecutions)",
            m.provisioned_busy.clone(),
        );
        registry.register(
            "lambda_provisioned_concurrency_utilization",
            "Busy over allocated provisioned environments (CloudWatch: ProvisionedConcurrencyUtilization)",
            m.provisioned_utilization.clone(),
        );
        registry.register(
            "nimbus_environments_initializing",
            "Execution environments in their init phase",
            m.initializing.clone(),
        );
        registry.register(
            "nimbus_sandbox_standby",
            "Sandboxes started ahead of need, ready for a cold start (sandbox launcher)",
            m.standby.clone(),
        );
        registry.register(
            "nimbus_runtime_api_connections",
            "Connections open to environments' Runtime APIs",
            m.runtime_api_connections.clone(),
        );
        registry.register(
            "nimbus_store_commit_seconds",
            "How long the store's writers' commits took, by writer",
            m.store_commit.clone(),
        );
        registry.register(
            "nimbus_log_events_dropped",
            "Log events dropped because the log writer was behind",
            m.log_events_dropped.clone(),
        );
        Self { registry, ..m }
    }

    /// An asynchronous event of `function` dispatched after waiting `age`.
    pub(crate) fn event_dispatched(&self, function: &str, age: std::time::Duration) {
        self.event_age
            .get_or_create(&function_labels(function))
            .observe(age.as_secs_f64());
    }

    /// An asynchronous event of `function` given up.
    pub(crate) fn event_dropped(&self, function: &str) {
        self.events_dropped
            .get_or_create(&function_labels(function))
            .inc();
    }

    /// A failed event of `function` that its dead-letter queue did not take.
    pub(crate) fn dead_letter_error(&self, function: &str) {
        self.dead_letter_errors
            .get_or_create(&function_labels(function))
            .inc();
    }

    /// A record of `function` that its destination did not take.
    pub(crate) fn destination_failure(&self, function: &str) {
        self.destination_failures
            .get_or_create(&function_labels(function))
            .inc();
    }

    /// A commit of `writer` that took `took`.
    pub(crate) fn store_commit(&self, writer: StoreWriter, took: std::time::Duration) {
        self.store_commit
            .get_or_create(&vec![("writer", writer.label().to_string())])
            .observe(took.as_secs_f64());
    }

    /// `n` log events dropped.
    pub(crate) fn log_events_dropped(&self, n: usize) {
        self.log_events_dropped.inc_by(n as u64);
    }

    /// The exposition text, with the gauges read now.
    fn render(&self, app: &App) -> String {
        self.concurrent.set(i64::from(app.engine.running()));
        self.idle
            .set(i64::try_from(app.engine.idle_count()).unwrap_or(i64::MAX));
        self.async_pending
            .set(i64::try_from(app.event_queue.pending()).unwrap_or(i64::MAX));
        self.initializing
            .set(i64::try_from(app.engine.initializing()).unwrap_or(i64::MAX));
        self.standby
            .set(i64::try_from(app.engine.standby_sandboxes()).unwrap_or(i64::MAX));
        self.runtime_api_connections.set(
            i64::try_from(nimbus_engine::Engine::runtime_api_connections()).unwrap_or(i64::MAX),
        );
        // Targets that went away leave no stale series.
        self.provisioned_allocated.clear();
        self.provisioned_busy.clear();
        self.provisioned_utilization.clear();
        for (function, qualifier, _requested, allocated, busy) in app.engine.provisioned_levels() {
            let l = vec![("function_name", function), ("resource", qualifier)];
            self.provisioned_allocated
                .get_or_create(&l)
                .set(i64::from(allocated));
            self.provisioned_busy.get_or_create(&l).set(i64::from(busy));
            let utilization = if allocated == 0 {
                0.0
            } else {
                f64::from(busy) / f64::from(allocated)
            };
            self.provisioned_utilization
                .get_or_create(&l)
                .set(utilization);
        }
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

fn function_labels(function: &str) -> Labels {
    vec![("function_name", function.to_string())]
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
