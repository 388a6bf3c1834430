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
}

/// Receives the engine's figures. Called on the invocation's own task: keep it quick.
pub trait Observer: Send + Sync {
    /// An invocation ended.
    fn invocation(&self, figures: &InvocationFigures<'_>);
    /// An invocation was refused for concurrency (`reason`: Lambda's throttle reason).
    fn throttled(&self, function: &str, reason: &str);
}
