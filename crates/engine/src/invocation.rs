//! What goes into the invocation pipeline and what comes out: the same for the Invoke API and
//! for every event source to come (queues, function URLs, schedules).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;

/// AWS compat: `X-Amz-Invocation-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationType {
    /// Synchronous: the caller waits for the result.
    RequestResponse,
    /// Asynchronous: queued, answered 202.
    Event,
    /// Checks that the invocation would be allowed; runs nothing.
    DryRun,
}

impl InvocationType {
    /// Parses AWS's name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RequestResponse" => Some(Self::RequestResponse),
            "Event" => Some(Self::Event),
            "DryRun" => Some(Self::DryRun),
            _ => None,
        }
    }
}

/// AWS compat: `X-Amz-Log-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogType {
    /// No log in the answer.
    #[default]
    None,
    /// The last 4 KB of the invocation's log in the answer.
    Tail,
}

impl LogType {
    /// Parses AWS's name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "None" => Some(Self::None),
            "Tail" => Some(Self::Tail),
            _ => None,
        }
    }
}

/// An invocation's id (the caller's `x-amzn-RequestId`, the runtime's
/// `Lambda-Runtime-Aws-Request-Id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// A request id as given.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A part of a streamed response, as the function's runtime sends it.
#[derive(Debug, Clone)]
pub enum StreamPart {
    /// The stream begins: the `Content-Type` the runtime gave it.
    Start {
        /// The runtime's `Content-Type`, if any.
        content_type: Option<String>,
        /// The version that runs (`X-Amz-Executed-Version`).
        executed_version: String,
    },
    /// The next bytes.
    Chunk(Bytes),
}

/// Where a caller that takes streamed responses (InvokeWithResponseStream, a RESPONSE_STREAM
/// function URL) has them sent, as they arrive. A slow reader slows the function (the
/// channel is bounded); a reader gone leaves the function running to its end.
pub type ResponseSink = tokio::sync::mpsc::Sender<StreamPart>;

/// One invocation, as every source hands it to the engine.
#[derive(Debug, Clone)]
pub struct InvocationRequest {
    /// The function's name.
    pub function: String,
    /// `$LATEST`, a version or an alias; none means `$LATEST`.
    pub qualifier: Option<String>,
    /// The region it is invoked in (ARNs, `AWS_REGION`).
    pub region: String,
    /// Its id.
    pub request_id: RequestId,
    /// The event, as bytes shared with the caller (never copied on the way).
    pub payload: Bytes,
    /// How the caller wants it run.
    pub invocation_type: InvocationType,
    /// The decoded client context (JSON), if any.
    pub client_context: Option<String>,
    /// Whether the log tail goes back.
    pub log_type: LogType,
    /// The caller's `X-Amzn-Trace-Id`, continued to the runtime.
    pub trace_header: Option<String>,
    /// A limit of the caller's, when shorter than the function's timeout.
    pub deadline: Option<Duration>,
    /// Where a streamed response goes (`None`: a streamed response is buffered, within the
    /// buffered limit, as Invoke answers it).
    pub stream: Option<ResponseSink>,
}

/// How a function failed, as `X-Amz-Function-Error` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionError {
    /// AWS compat: every runtime or platform failure of an invocation is `Unhandled`.
    Unhandled,
}

impl FunctionError {
    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unhandled => "Unhandled",
        }
    }
}

/// What an invocation produced.
#[derive(Debug, Clone)]
pub struct InvocationOutcome {
    /// HTTP status of the answer (200; 204 for DryRun).
    pub status: u16,
    /// The function's answer, or the error document.
    pub payload: Bytes,
    /// Set when the function (or the platform, on its behalf) failed.
    pub function_error: Option<FunctionError>,
    /// The error type when it failed (`Runtime.ExitError`, `Sandbox.Timedout`, ...).
    pub error_type: Option<String>,
    /// The version that ran (`X-Amz-Executed-Version`).
    pub executed_version: String,
    /// The invocation's log, START to REPORT, when the caller asked for [`LogType::Tail`].
    pub log: Option<String>,
    /// How long the function ran.
    pub duration: Duration,
    /// Billed milliseconds.
    pub billed_ms: u64,
    /// `MemorySize`, MB.
    pub memory_mb: u32,
    /// Most memory used, MB.
    pub max_memory_used_mb: u64,
    /// The init phase, on a cold start.
    pub init_duration: Option<Duration>,
    /// Whether the response went to the request's [`ResponseSink`] (then `payload` is empty,
    /// or, if the stream ended with an error, the error document).
    pub streamed: bool,
}

impl InvocationOutcome {
    /// The last 4 KB of the log, as `X-Amz-Log-Result` carries it (before base64).
    pub fn log_tail(&self) -> Option<&str> {
        self.log.as_deref().map(crate::logs::tail)
    }
}

/// Why the engine refused an invocation with a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleReason {
    /// The account's limit of concurrent executions is reached.
    ConcurrentInvocationLimitExceeded,
    /// The function's reserved concurrency is reached.
    ReservedFunctionConcurrentInvocationLimitExceeded,
}

impl ThrottleReason {
    /// AWS's `Reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConcurrentInvocationLimitExceeded => "ConcurrentInvocationLimitExceeded",
            Self::ReservedFunctionConcurrentInvocationLimitExceeded => {
                "ReservedFunctionConcurrentInvocationLimitExceeded"
            }
        }
    }
}
