//! Errors of the engine.

use std::io;
use std::path::PathBuf;

/// A failure of the engine itself (not of a function: those are invocation results).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The runtime id has no configured runtime on this server.
    #[error("runtime {runtime} is not available on this server: {reason}")]
    RuntimeUnavailable {
        /// The runtime id.
        runtime: String,
        /// Why.
        reason: String,
    },
    /// Preparing the runtime files failed.
    #[error("write runtime files to {path}")]
    RuntimeFiles {
        /// Where.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// Why the pipeline did not run an invocation (a function's own failure is an outcome, not
/// an error).
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The function or qualifier could not be resolved.
    #[error(transparent)]
    Resolve(#[from] crate::resolve::ResolveError),
    /// The payload is not JSON (the parser's words).
    #[error("the payload is not JSON: {0}")]
    InvalidPayload(String),
    /// The function is not `Active`.
    #[error("the function is {0:?}")]
    NotActive(nimbus_model::State),
    /// A concurrency limit is reached (429).
    #[error("throttled: {}", .0.as_str())]
    Throttled(crate::invocation::ThrottleReason),
    /// The engine itself failed (its runtime is not available, say).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// This server has no room for another environment now (disk for `/tmp`, sandbox uids).
    #[error("no capacity for another environment: {0}")]
    Capacity(String),
    /// Starting an environment failed for a reason that is the platform's.
    #[error("launch environment for {function}")]
    Launch {
        /// The function.
        function: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The package a stale configuration named was being removed as the environment started.
    #[error(transparent)]
    CodeRemoved(#[from] crate::code_leases::Removed),
    /// No credentials could be issued for a new environment.
    #[error(transparent)]
    Credentials(#[from] crate::services::CredentialsError),
    /// The invocation's task ended abnormally (a panic: a bug).
    #[error("invocation task failed")]
    Aborted(#[source] tokio::task::JoinError),
}
