//! Linux isolation for execution environments: the only crate that makes raw Linux calls.
//!
//! Today it holds what the `process` launcher needs: ending a whole process group and reading a
//! process's peak memory. Namespaces, mounts, cgroups, seccomp and the `sandbox-init` helper
//! arrive with the isolation work and build on the same seam. It knows nothing of Lambda, HTTP
//! or storage.
#![warn(missing_docs)]

pub mod process;
