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
    /// The helper could not make the sandbox's processes: the kernel had no room (EAGAIN,
    /// ENOMEM), as when all environments together reach their ceiling of processes or memory.
    #[error("no room for another sandbox's processes: {0}")]
    NoRoom(String),
    /// The data disk cannot hold another `/tmp` of this size on top of those already made.
    #[error("no disk space for {needed_mb} MB of ephemeral storage in {dir}: {available_mb} MB free, {committed_mb} MB promised to other environments")]
    NoSpace {
        /// Where the images live.
        dir: PathBuf,
        /// The size asked for.
        needed_mb: u64,
        /// Free now.
        available_mb: u64,
        /// What existing images may still grow to.
        committed_mb: u64,
    },
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
