//! Traces: the spans of every recorded invocation (functions with `TracingConfig: Active`),
//! exported over OTLP/HTTP by OpenTelemetry's SDK (its batch processor, the OTLP exporter).
//! The engine decides the trace (the caller's X-Ray root continued, Nimbus's span as the
//! runtime's parent) and times the stages; this turns them into spans:
//!
//! ```text
//! <function> (server; parent: the caller's span)
//! ├── admission          resolve the configuration, take a concurrency permit
//! ├── cold start         on a cold start only
//! │   ├── sandbox        launch the environment
//! │   └── init           the runtime's init phase
//! ├── dispatch           the event to the runtime and its answer
//! └── finish             logs, REPORT, the environment released
//! ```

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use nimbus_engine::observe::{InvocationFigures, Observer};
use nimbus_engine::trace::TraceRecord;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SpanData, SpanEvents, SpanLinks, SpanProcessor,
};
use opentelemetry_sdk::Resource;

use crate::config::TracesSection;

/// Exports recorded invocations' spans.
pub(crate) struct Tracer {
    processor: BatchSpanProcessor,
    scope: InstrumentationScope,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer").finish_non_exhaustive()
    }
}

/// Where spans go: `<endpoint>/v1/traces`, unless the endpoint names that path itself.
fn traces_url(endpoint: &str) -> String {
    let e = endpoint.trim_end_matches('/');
    if e.ends_with("/v1/traces") {
        e.to_string()
    } else {
        format!("{e}/v1/traces")
    }
}

impl Tracer {
    /// The tracer of `[traces]`, if it names an endpoint.
    pub(crate) fn start(c: &TracesSection) -> Result<Option<Self>, String> {
        let Some(endpoint) = &c.otlp_endpoint else {
            return Ok(None);
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(traces_url(endpoint))
            .with_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("OTLP exporter to {endpoint}: {e}"))?;
        let mut processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(Duration::from_millis(c.export_interval_ms.max(10)))
                    .build(),
            )
            .build();
        processor.set_resource(
            &Resource::builder_empty()
                .with_service_name(c.service_name.clone())
                .build(),
        );
        Ok(Some(Self {
            processor,
            scope: InstrumentationScope::builder("nimbus")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        }))
    }

    /// Sends what is queued, and stops.
    pub(crate) fn shutdown(&self) {
        if let Err(e) = self.processor.shutdown() {
            tracing::warn!(error = %e, "traces: the last spans could not be exported");
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn span(
        &self,
        record: &TraceRecord,
        span_id: u64,
        parent: Option<u64>,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        (start, end): (SystemTime, SystemTime),
        attributes: Vec<KeyValue>,
        status: Status,
    ) -> SpanData {
        let c = &record.context;
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(c.trace_id),
                SpanId::from(span_id),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: parent.map_or(SpanId::INVALID, SpanId::from),
            parent_span_is_remote: parent.is_some() && parent == c.caller_parent,
            span_kind: kind,
            name: name.into(),
            start_time: start,
            end_time: end.max(start),
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: self.scope.clone(),
        }
    }

    /// The spans of one recorded invocation.
    fn spans(&self, f: &InvocationFigures<'_>, r: &TraceRecord) -> Vec<SpanData> {
        let t = &r.timeline;
        let root = r.context.span_id;
        let child = || rand::random::<u64>() | 1;
        let internal = |name: &'static str, parent: u64, at: (SystemTime, SystemTime)| {
            self.span(
                r,
                child(),
                Some(parent),
                name,
                SpanKind::Internal,
                at,
                Vec::new(),
                Status::Unset,
            )
        };
        let mut spans = vec![self.span(
            r,
            root,
            r.context.caller_parent,
            f.function.to_string(),
            SpanKind::Server,
            (t.start, t.end),
            vec![
                KeyValue::new("faas.name", f.function.to_string()),
                KeyValue::new("faas.version", f.version.to_string()),
                KeyValue::new("faas.invocation_id", r.request_id.clone()),
                KeyValue::new("faas.coldstart", r.cold),
                KeyValue::new("faas.max_memory", i64::from(f.memory_mb) * 1024 * 1024),
                KeyValue::new("cloud.resource_id", r.invoked_arn.clone()),
                KeyValue::new("aws.xray.trace_id", r.context.root()),
                KeyValue::new(
                    "nimbus.billed_ms",
                    i64::try_from(f.billed_ms).unwrap_or(i64::MAX),
                ),
            ],
            if f.error {
                Status::error("function error")
            } else {
                Status::Ok
            },
        )];
        spans.push(internal("admission", root, (t.start, t.admitted)));
        if r.cold {
            let cold = child();
            let (attributes, status) = match &r.init_error {
                Some(e) => (
                    vec![KeyValue::new("error.type", e.clone())],
                    Status::error(e.clone()),
                ),
                None => (Vec::new(), Status::Unset),
            };
            spans.push(self.span(
                r,
                cold,
                Some(root),
                "cold start",
                SpanKind::Internal,
                (t.admitted, t.claimed),
                attributes,
                status,
            ));
            // A failed init's launch and init phase are not told apart.
            if r.init_error.is_none() {
                let launched = t.launched.unwrap_or(t.admitted);
                spans.push(internal("sandbox", cold, (t.admitted, launched)));
                spans.push(internal("init", cold, (launched, t.claimed)));
            }
        }
        if r.init_error.is_none() {
            spans.push(internal("dispatch", root, (t.claimed, t.dispatched)));
            spans.push(internal("finish", root, (t.dispatched, t.end)));
        }
        spans
    }
}

impl Observer for Tracer {
    fn invocation(&self, f: &InvocationFigures<'_>) {
        if let Some(r) = f.trace {
            for span in self.spans(f, r) {
                self.processor.on_end(span);
            }
        }
    }

    fn throttled(&self, _function: &str, _reason: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_once() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }
}
