//! `sandbox-init`: the small, single-threaded helper the server executes (our own binary,
//! re-executed) to build one sandbox and start the runtime in it.
//!
//! Descriptors on entry: 0 a socket holding (SCM_RIGHTS) the network namespace to join, the
//! status pipe (`pid <n>` once the sandbox's init exists) and the spec pipe, which the helper
//! puts at 3, 4 and 5 before anything else (0 becomes /dev/null); 1 and 2 the environment's
//! output pipe. The spec pipe carries a first line with the `cgroup.procs` files to join (JSON), then the spec (JSON) once
//! the sandbox is wanted. The helper joins its cgroups as soon as it starts (on cgroup v1 that
//! takes milliseconds) and then waits for the spec: started ahead of time, it is a sandbox half
//! built, off the cold-start path.
//!
//! Steps: join the cgroups, join the network namespace, unshare mount/pid/ipc/uts/cgroup
//! namespaces, fork the sandbox's PID 1. PID 1 builds the root (tmpfs, read-only binds, generated
//! /etc, minimal /dev, /proc, private /tmp), pivots into it, and forks the runtime, which drops
//! every capability, becomes an unprivileged user, sets no_new_privs, installs the seccomp
//! policy and executes the runtime. PID 1 then reaps orphans until the runtime exits, and exits
//! with its status; killing PID 1 ends every process of the sandbox.

use std::io::Write;
use std::path::PathBuf;

use crate::seccomp::CompiledPolicy;
use crate::spec::SandboxSpec;
use crate::sys::{self, Forked};

const NETNS_FD: i32 = 3;
const STATUS_FD: i32 = 4;
const SPEC_FD: i32 = 5;

use crate::setup::{self, step, Step};

/// The status pipe, reopened through /proc (so that no unsafe adoption of fd 4 is needed).
fn status_pipe() -> std::fs::File {
    std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{STATUS_FD}"))
        .unwrap_or_else(|_| {
            // Without a status pipe there is nobody to tell; write to stderr and stop.
            let _ = writeln!(
                std::io::stderr(),
                "nimbus sandbox-init: no status pipe on fd 4"
            );
            sys::exit_now(125)
        })
}

/// Takes the three descriptors the server sent on fd 0 and puts them at 3, 4 and 5; 0 becomes
/// /dev/null.
fn receive_fds() -> Result<(), String> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::os::fd::{AsRawFd, IntoRawFd};
    // Our stdin is the socket.
    let socket = std::io::stdin();
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    rustix::net::recvmsg(
        &socket,
        &mut [std::io::IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| format!("receive descriptors: {e}"))?;
    let mut received = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            received.extend(fds);
        }
    }
    if received.len() != 3 {
        return Err(format!("expected 3 descriptors, got {}", received.len()));
    }
    // High first, so that placing one never overwrites another still to be placed.
    let high: Vec<std::os::fd::OwnedFd> = received
        .iter()
        .map(|fd| sys::dup_high(fd.as_raw_fd()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("move descriptors: {e}"))?;
    drop(received);
    for (fd, target) in high.iter().zip([NETNS_FD, STATUS_FD, SPEC_FD]) {
        sys::dup2(fd.as_raw_fd(), target).map_err(|e| format!("place descriptor: {e}"))?;
    }
    drop(high);
    let null = std::fs::File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
    sys::dup2(null.into_raw_fd(), 0).map_err(|e| format!("stdin: {e}"))?;
    Ok(())
}

/// Entry point: never returns.
pub fn main() -> ! {
    if let Err(e) = receive_fds() {
        let _ = writeln!(std::io::stderr(), "nimbus sandbox-init: {e}");
        sys::exit_now(125);
    }
    let mut status = status_pipe();
    sys::close(STATUS_FD);
    let fail = |status: &mut std::fs::File, msg: String| -> ! {
        let _ = writeln!(status, "error {msg}");
        sys::exit_now(125)
    };
    let spec_pipe = std::fs::File::open(format!("/proc/self/fd/{SPEC_FD}"));
    sys::close(SPEC_FD);
    let mut spec_pipe = match spec_pipe {
        Ok(f) => std::io::BufReader::new(f),
        Err(e) => fail(&mut status, format!("open the spec pipe: {e}")),
    };
    let mut first = String::new();
    if let Err(e) = std::io::BufRead::read_line(&mut spec_pipe, &mut first) {
        fail(&mut status, format!("read cgroups: {e}"));
    }
    let cgroups: Vec<PathBuf> = match serde_json::from_str(&first) {
        Ok(c) => c,
        Err(e) => fail(&mut status, format!("bad cgroup list: {e}")),
    };
    if let Err(e) = join_cgroups(&cgroups) {
        fail(&mut status, e);
    }
    let policy = match crate::seccomp::compile() {
        Ok(p) => p,
        Err(e) => fail(&mut status, e.to_string()),
    };
    // Now wait for the sandbox to be wanted.
    let mut spec_json = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(&mut spec_pipe, &mut spec_json) {
        fail(&mut status, format!("read spec: {e}"));
    }
    drop(spec_pipe);
    if spec_json.is_empty() {
        // Never used: the server let it go.
        sys::exit_now(0);
    }
    let spec: SandboxSpec = match serde_json::from_slice(&spec_json) {
        Ok(s) => s,
        Err(e) => fail(&mut status, format!("bad spec: {e}")),
    };
    let policy = spec.seccomp.then_some(policy);
    if let Err(e) = enter() {
        fail(&mut status, e);
    }
    match sys::fork() {
        Err(e) => fail(&mut status, format!("fork: {e}")),
        Ok(Forked::Parent(pid)) => {
            let _ = writeln!(status, "pid {pid}");
            drop(status);
            let code = match sys::waitpid(pid) {
                Ok((_, st)) => sys::exit_code(st),
                Err(_) => 1,
            };
            sys::exit_now(code)
        }
        Ok(Forked::Child) => {
            drop(status);
            match pid1(&spec, policy.as_ref()) {
                Ok(code) => sys::exit_now(code),
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "nimbus sandbox: {e}");
                    sys::exit_now(125)
                }
            }
        }
    }
}

/// Moves this process into the environment's cgroups (before any namespace: the cgroup
/// namespace is rooted where the process is when it unshares).
fn join_cgroups(procs: &[PathBuf]) -> Step<()> {
    let me = sys::getpid().to_string();
    for f in procs {
        step(
            &format!("join cgroup {}", f.display()),
            std::fs::write(f, &me),
        )?;
    }
    Ok(())
}

/// The network namespace, then the rest of the namespaces.
fn enter() -> Step<()> {
    step(
        "join network namespace",
        sys::setns(NETNS_FD, libc::CLONE_NEWNET),
    )?;
    sys::close(NETNS_FD);
    step(
        "unshare namespaces",
        sys::unshare(
            libc::CLONE_NEWNS
                | libc::CLONE_NEWPID
                | libc::CLONE_NEWIPC
                | libc::CLONE_NEWUTS
                | libc::CLONE_NEWCGROUP,
        ),
    )
}

/// PID 1 of the sandbox: builds it, starts the runtime, reaps until the runtime exits.
fn pid1(spec: &SandboxSpec, policy: Option<&CompiledPolicy>) -> Step<i32> {
    setup::build_root(&setup::LinuxSys, spec)?;
    let runtime = match step("fork the runtime", sys::fork())? {
        Forked::Child => {
            let e = exec_runtime(spec, policy);
            let _ = writeln!(std::io::stderr(), "nimbus sandbox: {e}");
            sys::exit_now(127)
        }
        Forked::Parent(pid) => pid,
    };
    loop {
        match sys::waitpid(-1) {
            Ok((pid, st)) if pid == runtime => return Ok(sys::exit_code(st)),
            Ok(_) => continue,
            Err(e) => return Err(format!("wait: {e}")),
        }
    }
}

/// Drops every privilege and executes the runtime; returns only on failure.
fn exec_runtime(spec: &SandboxSpec, policy: Option<&CompiledPolicy>) -> String {
    use std::os::unix::process::CommandExt;
    if let Err(e) = setup::drop_privileges(&setup::LinuxSys, spec, policy) {
        return e;
    }
    let Some((program, args)) = spec.argv.split_first() else {
        return "empty argv".into();
    };
    let e = std::process::Command::new(program)
        .args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .exec();
    format!("exec {program}: {e}")
}
