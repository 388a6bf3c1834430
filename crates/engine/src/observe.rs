//! What the engine tells an observer (the server's metrics) as invocations end: the figures
//! the finish stage computes, once per invocation, so that every source is counted alike.

use std::time::Duration;

/// One invocation's figures.
#[derive(Debug, Clone, Copy)]
pub struct InvocationFigures<'a> {
    /// The function's name.
    pub function: &'a str,
    /// The version that ran.
    pub version: &'a str,
    /// How long the function ran.
    pub duration: Duration,
    /// Its environment's init phase, on a cold start.
    pub init: Option<Duration>,
    /// Whether it failed (a function error, a timeout, an init failure).
    pub error: bool,
    /// Billed milliseconds.
    pub billed_ms: u64,
    /// `MemorySize`, MB.
    pub memory_mb: u32,
    /// `x86_64` or `arm64`.
    pub architecture: &'a str,
    /// `EphemeralStorage.Size`, MB.
    pub ephemeral_mb: u32,
    /// Whether it ran on a provisioned-concurrency environment.
    pub provisioned: bool,
    /// When it ended, epoch ms.
    pub epoch_ms: i64,
    /// Its request id.
    pub request_id: &'a str,
    /// Its stages, when its function's tracing is Active (and it was sampled).
    pub trace: Option<&'a crate::trace::TraceRecord>,
}

/// Receives the engine's figures. Called on the invocation's own task: keep it quick.
pub trait Observer: Send + Sync {
    /// An invocation ended.
    fn invocation(&self, figures: &InvocationFigures<'_>);
    /// An invocation was refused for concurrency (`reason`: Lambda's throttle reason).
    fn throttled(&self, function: &str, reason: &str);
}

/// Several observers, each told everything, in order.
pub struct Observers(pub Vec<std::sync::Arc<dyn Observer>>);

impl Observer for Observers {
    fn invocation(&self, figures: &InvocationFigures<'_>) {
        for o in &self.0 {
            o.invocation(figures);
        }
    }

    fn throttled(&self, function: &str, reason: &str) {
        for o in &self.0 {
            o.throttled(function, reason);
        }
    }
}
