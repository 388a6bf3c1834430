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
    /// The account's concurrency limit is reached.
    #[error("concurrency limit of {0} reached")]
    ConcurrencyLimit(u32),
    /// Preparing the runtime files failed.
    #[error("write runtime files to {path}")]
    RuntimeFiles {
        /// Where.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Starting an environment failed for a reason that is the platform's, not the function's.
    #[error("launch environment for {function}")]
    Launch {
        /// The function.
        function: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}
