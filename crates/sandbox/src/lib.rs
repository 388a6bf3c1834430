//! Linux isolation for execution environments: the only crate that makes raw Linux calls.
//!
//! It builds sandboxes from its own [`spec::SandboxSpec`]: new mount, pid, net, ipc, uts and
//! cgroup namespaces; a minimal read-only root with read-only binds of runtime files and code; a
//! private `/tmp`; cgroup limits ([`cgroup`]); a loopback-only network ([`net`]); all
//! capabilities dropped, an unprivileged user, no_new_privs and a default-deny seccomp policy
//! ([`seccomp`]). The multi-threaded server never forks into this work: it executes the
//! single-threaded `sandbox-init` helper ([`init`]). It knows nothing of Lambda, HTTP or storage.
#![warn(missing_docs)]

pub mod cgroup;
pub mod egress;
mod error;
pub mod init;
pub mod net;
pub mod process;
pub mod seccomp;
mod setup;
pub mod spec;
pub mod storage;
mod sys;

use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Stdio};

pub use error::SandboxError;

/// The command that starts a `sandbox-init` helper: our own binary at `helper`, its stdin a
/// socket that already holds the network namespace, the status pipe and the spec pipe
/// (SCM_RIGHTS; the helper puts them at fds 3-5), its stdout and stderr `output`. Also returns
/// the spec pipe's writing end, whose first line (the cgroups to join) is already written; the
/// spec follows with [`send_spec`]. Spawn the command with std or tokio.
///
/// No `pre_exec`: so std spawns it with posix_spawn (a vfork-style clone), never a fork of the
/// server, whose page tables grow with every environment it holds.
pub fn helper_command(
    helper: &Path,
    cgroup_procs: &[std::path::PathBuf],
    netns: &OwnedFd,
    status: &std::io::PipeWriter,
    output: std::io::PipeWriter,
) -> Result<(Command, std::io::PipeWriter), SandboxError> {
    let (spec_r, mut spec_w) = std::io::pipe().map_err(SandboxError::Spawn)?;
    let mut first =
        serde_json::to_string(cgroup_procs).map_err(|e| SandboxError::Init(e.to_string()))?;
    first.push('\n');
    std::io::Write::write_all(&mut spec_w, first.as_bytes()).map_err(SandboxError::Spawn)?;
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(SandboxError::Spawn)?;
    use std::os::fd::AsFd;
    send_fds(&ours, &[netns.as_fd(), status.as_fd(), spec_r.as_fd()])?;
    // What was sent stays in the socket for the helper after both of these are gone.
    drop(ours);
    drop(spec_r);
    let mut cmd = Command::new(helper);
    cmd.arg("sandbox-init")
        .env_clear()
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::from(
            output.try_clone().map_err(SandboxError::Spawn)?,
        ))
        .stderr(Stdio::from(output));
    Ok((cmd, spec_w))
}

/// Sends `fds` over `socket`, with one byte of data (SCM_RIGHTS needs some).
fn send_fds(
    socket: &std::os::unix::net::UnixStream,
    fds: &[std::os::fd::BorrowedFd<'_>],
) -> Result<(), SandboxError> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(SandboxError::Init("descriptor message too large".into()));
    }
    rustix::net::sendmsg(
        socket,
        &[std::io::IoSlice::new(b"f")],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .map_err(|e| SandboxError::Spawn(e.into()))?;
    Ok(())
}

/// Hands a waiting helper its spec. The spec holds the function's environment variables, which
/// may be secrets: it goes through the pipe, never a command line every host user can read.
pub fn send_spec(
    mut spec_pipe: std::io::PipeWriter,
    spec: &spec::SandboxSpec,
) -> Result<(), SandboxError> {
    let json = serde_json::to_vec(spec).map_err(|e| SandboxError::Init(e.to_string()))?;
    std::io::Write::write_all(&mut spec_pipe, &json).map_err(SandboxError::Spawn)
}

/// Reads the helper's report: the host pid of the sandbox's PID 1, or why it failed.
pub fn read_init_pid(status: std::io::PipeReader) -> Result<u32, SandboxError> {
    let mut line = String::new();
    BufReader::new(status)
        .read_line(&mut line)
        .map_err(|e| SandboxError::Init(e.to_string()))?;
    let line = line.trim();
    if let Some(pid) = line.strip_prefix("pid ") {
        return pid
            .parse()
            .map_err(|_| SandboxError::Init(format!("bad report {line:?}")));
    }
    Err(match line.strip_prefix("error ") {
        // The helper reports io errors with their code: EAGAIN and ENOMEM from fork or clone
        // mean the scope's ceiling (or the host's) is reached, not a fault of ours.
        Some(msg) if msg.ends_with("(os error 11)") || msg.ends_with("(os error 12)") => {
            SandboxError::NoRoom(msg.to_string())
        }
        Some(msg) => SandboxError::Init(msg.to_string()),
        None => SandboxError::Init("the helper exited without a report".to_string()),
    })
}

/// Gives the calling process a private mount namespace (with private propagation), so that
/// the mounts it makes for sandboxes (scratch file systems) vanish with it, even on SIGKILL.
/// Must be called while the process is single-threaded.
pub fn private_mount_namespace() -> std::io::Result<()> {
    sys::unshare(libc::CLONE_NEWNS)?;
    sys::mount(
        None,
        Path::new("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    )
}
