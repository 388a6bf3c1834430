//! The seccomp policy: default deny (EPERM), kept as commented data in `policy/default.json`,
//! compiled to BPF once per server and applied just before the runtime is executed.

use std::collections::HashMap;

use seccompiler::{BpfProgram, TargetArch};
use serde::Deserialize;

use crate::error::SandboxError;

/// The policy, as data.
pub const POLICY_JSON: &str = include_str!("../policy/default.json");

/// System calls no sandboxed process may ever make; the policy test refuses any of them.
pub const NEVER_ALLOWED: &[&str] = &[
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setgroups",
    "setfsuid",
    "setfsgid",
    "capset",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "acct",
    "quotactl",
    "syslog",
    "iopl",
    "ioperm",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "io_uring_setup",
    "fanotify_init",
    "kcmp",
    "mknod",
    "mknodat",
    // io_uring: a second system call interface that seccomp cannot see into.
    "io_uring_enter",
    "io_uring_register",
    // The new mount API.
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    // Taking another process's descriptors.
    "pidfd_getfd",
    // Execution domains (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE...): the default is all a
    // runtime needs.
    "personality",
    "uselib",
    "lookup_dcookie",
    "vm86",
    "vm86old",
    "nfsservctl",
];

/// Socket families a sandboxed process may create.
pub const SOCKET_FAMILIES: &[u64] = &[
    1,  // AF_UNIX
    2,  // AF_INET
    10, // AF_INET6
];

#[derive(Deserialize)]
struct Filter {
    filter: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    syscall: String,
    comment: Option<String>,
    #[serde(default)]
    args: Vec<serde_json::Value>,
}

/// The compiled filters, to install in order.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    filters: Vec<BpfProgram>,
}

/// Checks the policy's form (every rule commented, no duplicates, nothing from
/// [`NEVER_ALLOWED`] in the allow list) and compiles it for this machine.
pub fn compile() -> Result<CompiledPolicy, SandboxError> {
    let parsed: HashMap<String, Filter> =
        serde_json::from_str(POLICY_JSON).map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    let runtime = parsed
        .get("runtime")
        .ok_or_else(|| SandboxError::Seccomp("no `runtime` filter".into()))?;
    // A call may be listed more than once only as alternative argument conditions.
    let mut seen: HashMap<&str, bool> = HashMap::new();
    for r in &runtime.filter {
        let conditional = !r.args.is_empty();
        if let Some(before) = seen.insert(r.syscall.as_str(), conditional) {
            if !(before && conditional) {
                return Err(SandboxError::Seccomp(format!(
                    "{} is listed twice",
                    r.syscall
                )));
            }
        }
        if r.comment.as_deref().is_none_or(str::is_empty) {
            return Err(SandboxError::Seccomp(format!(
                "{} has no comment saying who needs it",
                r.syscall
            )));
        }
        if NEVER_ALLOWED.contains(&r.syscall.as_str()) {
            return Err(SandboxError::Seccomp(format!(
                "{} must never be allowed",
                r.syscall
            )));
        }
    }
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    let mut map = seccompiler::compile_from_json(POLICY_JSON.as_bytes(), arch)
        .map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    // The ENOSYS filter goes first: once the allow list is in place, `seccomp` itself is denied.
    let mut filters = Vec::new();
    for name in ["runtime_enosys", "runtime"] {
        filters.push(
            map.remove(name)
                .ok_or_else(|| SandboxError::Seccomp(format!("no `{name}` filter")))?,
        );
    }
    Ok(CompiledPolicy { filters })
}

impl CompiledPolicy {
    /// Installs the filters on the calling thread (no_new_privs must be set).
    pub(crate) fn apply(&self) -> Result<(), SandboxError> {
        for f in &self.filters {
            seccompiler::apply_filter(f).map_err(|e| SandboxError::Seccomp(e.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_is_well_formed_and_compiles() {
        let p = compile().expect("the shipped policy is valid");
        assert_eq!(p.filters.len(), 2);
        assert!(p.filters.iter().all(|f| !f.is_empty()));
    }

    #[test]
    fn dangerous_calls_are_absent() {
        let parsed: serde_json::Value = serde_json::from_str(POLICY_JSON).expect("json");
        let allowed: Vec<&str> = parsed["runtime"]["filter"]
            .as_array()
            .expect("rules")
            .iter()
            .filter_map(|r| r["syscall"].as_str())
            .collect();
        for s in NEVER_ALLOWED {
            assert!(!allowed.contains(s), "{s} is allowed");
        }
        assert_eq!(
            parsed["runtime"]["mismatch_action"],
            serde_json::json!({ "errno": 1 }),
            "default deny"
        );
        for needed in [
            "read", "write", "execve", "futex", "mmap", "socket", "connect",
        ] {
            assert!(allowed.contains(&needed), "{needed} missing");
        }
    }

    #[test]
    fn sockets_only_of_the_allowed_families() {
        let parsed: serde_json::Value = serde_json::from_str(POLICY_JSON).expect("json");
        let rules: Vec<&serde_json::Value> = parsed["runtime"]["filter"]
            .as_array()
            .expect("rules")
            .iter()
            .filter(|r| r["syscall"] == "socket" || r["syscall"] == "socketpair")
            .collect();
        assert!(rules.len() >= 2);
        for r in rules {
            let args = r["args"]
                .as_array()
                .expect("every socket rule has conditions");
            let family = args
                .iter()
                .find(|a| a["index"] == 0 && a["op"] == "eq")
                .and_then(|a| a["val"].as_u64())
                .expect("a condition on the family");
            assert!(SOCKET_FAMILIES.contains(&family), "family {family} allowed");
        }
    }
}
