//! What a sandbox is made of, as the launcher hands it to the `sandbox-init` helper.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A host path made visible, read-only, inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    /// On the host.
    pub source: PathBuf,
    /// Inside the sandbox (absolute).
    pub target: PathBuf,
}

/// Everything `sandbox-init` needs; serialized as JSON on its command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// An empty host directory the sandbox's root is mounted on, in its own mount namespace.
    pub root_mountpoint: PathBuf,
    /// Read-only binds: runtime files, code, ...
    pub binds: Vec<Bind>,
    /// Symbolic links to create at the root, e.g. `/bin -> usr/bin` on merged-usr hosts.
    pub symlinks: Vec<(PathBuf, PathBuf)>,
    /// Files of the generated `/etc`: name and contents.
    pub etc: Vec<(String, String)>,
    /// A prepared, mounted scratch file system of the environment's `/tmp` size, bound at `/tmp`
    /// (see `storage`).
    pub tmp_source: PathBuf,
    /// Host name inside the sandbox.
    pub hostname: String,
    /// Unprivileged user and group the runtime runs as.
    pub uid: u32,
    /// See `uid`.
    pub gid: u32,
    /// Open files limit.
    pub nofile: u64,
    /// Processes limit (per user; each sandbox has its own uid).
    pub nproc: u64,
    /// Program (absolute, inside the sandbox) and arguments.
    pub argv: Vec<String>,
    /// The runtime's whole environment.
    pub env: Vec<(String, String)>,
    /// Working directory inside the sandbox.
    pub cwd: PathBuf,
    /// Apply the default-deny seccomp policy.
    pub seccomp: bool,
}
