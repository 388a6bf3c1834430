//! Errors of the sandbox.

use std::io;
use std::path::PathBuf;

/// A step of building or tearing down a sandbox that failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A cgroup file or directory could not be used.
    #[error("cgroup {path}")]
    Cgroup {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A needed cgroup controller is mounted nowhere.
    #[error("cgroup controller {0} is not available (neither v1 nor v2)")]
    ControllerMissing(&'static str),
    /// The network namespace could not be made.
    #[error("network namespace")]
    Network(#[source] io::Error),
    /// The seccomp policy could not be compiled.
    #[error("seccomp policy: {0}")]
    Seccomp(String),
    /// Starting the helper failed.
    #[error("start sandbox-init")]
    Spawn(#[source] io::Error),
    /// The helper failed before reporting the sandbox's init pid.
    #[error("sandbox-init failed: {0}")]
    Init(String),
    /// Preparing `/tmp` failed.
    #[error("ephemeral storage {path}")]
    Storage {
        /// The image or device.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}
