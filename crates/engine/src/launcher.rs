//! How an environment's runtime process is started. The engine sees only the [`Launcher`] trait:
//! the `process` launcher here runs the runtime as a plain child process in its own process
//! group (development only); the `sandbox` launcher (sandbox_launcher.rs) is the default.
//!
//! Processes are never signalled by a number that may have been given to another process: the
//! `process` launcher signals its group only while the leader is unreaped (the leader's number,
//! and so the group's, cannot be reused before), and reaps it under the same lock.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

/// What to start.
#[derive(Clone)]
pub struct LaunchSpec {
    /// Environment id (32 hex digits), unique.
    pub env_id: String,
    /// Program and arguments; the program is an absolute path.
    pub argv: Vec<OsString>,
    /// The whole environment of the runtime (nothing is inherited from the server).
    pub env: Vec<(String, String)>,
    /// The function's code on the host (unpacked, read-only).
    pub code_dir: PathBuf,
    /// The runtime's files on the host (`LAMBDA_RUNTIME_DIR`).
    pub runtime_dir: PathBuf,
    /// `MemorySize`, MB.
    pub memory_mb: u32,
    /// `EphemeralStorage`, MB.
    pub ephemeral_mb: u32,
    /// The runtime's AWS SDK on the host, if this server has one (bound read-only).
    pub sdk_dir: Option<PathBuf>,
    /// Whether the environment may reach the world (`nat`); without, it has loopback only.
    pub egress: bool,
    /// Whether to give the environment a listener for Nimbus's API and point
    /// `AWS_ENDPOINT_URL` at it (unless the function set that variable itself).
    pub api: bool,
}

impl std::fmt::Debug for LaunchSpec {
    /// Variables by name only: their values hold the function's secrets and credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaunchSpec")
            .field("env_id", &self.env_id)
            .field("argv", &self.argv)
            .field(
                "env",
                &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .field("code_dir", &self.code_dir)
            .field("runtime_dir", &self.runtime_dir)
            .field("memory_mb", &self.memory_mb)
            .field("ephemeral_mb", &self.ephemeral_mb)
            .field("sdk_dir", &self.sdk_dir)
            .field("api", &self.api)
            .field("egress", &self.egress)
            .finish()
    }
}

/// The variable current AWS SDKs read their endpoint from.
pub(crate) const ENDPOINT_VARIABLE: &str = "AWS_ENDPOINT_URL";

impl LaunchSpec {
    /// Whether the environment gets our `AWS_ENDPOINT_URL`: it asked for an API listener and
    /// the function did not choose an endpoint of its own.
    pub fn wants_endpoint(&self) -> bool {
        self.api && !self.env.iter().any(|(k, _)| k == ENDPOINT_VARIABLE)
    }
}

/// A started runtime process tree.
pub trait Process: Send + Sync {
    /// Ends the whole tree, at once; never signals a process it did not start.
    fn kill(&self);
    /// Most memory the environment has used, in bytes, if known.
    fn peak_memory_bytes(&self) -> Option<u64>;
    /// Whether the kernel killed a process of it for exceeding its memory.
    fn oom_killed(&self) -> bool {
        false
    }
    /// The init phase is over: from now on the environment gets only its share of CPU.
    fn init_done(&self) {}
    /// What the environment's network has carried so far, if the launcher counts it.
    fn network_usage(&self) -> Option<crate::NetworkUsage> {
        None
    }
}

/// Where things are, as the runtime sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `LAMBDA_TASK_ROOT`: the code.
    pub task_root: PathBuf,
    /// `LAMBDA_RUNTIME_DIR`: our bootstraps.
    pub runtime_dir: PathBuf,
    /// The runtime's AWS SDK, if any.
    pub sdk_dir: Option<PathBuf>,
}

/// Where the runtime reaches its Runtime API.
pub enum RuntimeEndpoint {
    /// A listener (non-blocking) that the engine serves the Runtime API on.
    Tcp(std::net::TcpListener),
    /// Tests: a runtime in this process, driving the API's state machine directly.
    #[cfg(test)]
    #[allow(private_interfaces)]
    InProcess(InProcessRuntime),
}

/// A runtime that runs as a task of the engine's tests.
#[cfg(test)]
pub(crate) type InProcessRuntime = Box<
    dyn FnOnce(
            std::sync::Arc<crate::runtime_api::RuntimeApi>,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send,
>;

/// What a launch gives back.
pub struct Launched {
    /// Where the environment's Runtime API is to be served.
    pub endpoint: RuntimeEndpoint,
    /// The runtime's stdout and stderr, merged.
    pub output: io::PipeReader,
    /// The process tree.
    pub process: Box<dyn Process>,
    /// Becomes `Some(description)` when the runtime process exits (e.g. "exit status 1").
    pub exited: watch::Receiver<Option<String>>,
    /// Where the environment reaches Nimbus's API (`AWS_ENDPOINT_URL`), when the spec asked.
    pub api: Option<std::net::TcpListener>,
}

/// Starts execution environments.
pub trait Launcher: Send + Sync {
    /// Starts `spec`, with `AWS_LAMBDA_RUNTIME_API` pointing at the returned listener.
    /// Must be called within the tokio runtime.
    fn launch(&self, spec: &LaunchSpec) -> io::Result<Launched>;
    /// Short name for logs and `INIT_START`.
    fn name(&self) -> &'static str;
    /// Where the code, runtime files and SDK at these host paths appear to the runtime.
    fn layout(
        &self,
        code_dir: &std::path::Path,
        runtime_dir: &std::path::Path,
        sdk_dir: Option<&std::path::Path>,
    ) -> Layout;
    /// Prepares, in the background, what launches will need of these host directories (the
    /// runtimes' files and SDKs).
    fn preload(&self, _trees: Vec<PathBuf>) {}
    /// The code package at `code_dir` is in place: what launches will need of it is made now
    /// (blocking), off the cold-start path.
    fn prepare(&self, _code_dir: &std::path::Path) {}
    /// The code package at `code_dir` is being removed: what the launcher keeps of it goes.
    fn forget(&self, _code_dir: &std::path::Path) {}
    /// Ends whatever the launcher keeps ready ahead of need (server shutdown).
    fn shutdown(&self) {}
    /// Environments ended but not yet cleaned up after (their cgroups, say).
    fn cleaning(&self) -> usize {
        0
    }
    /// How many sandboxes the launcher has ready ahead of need.
    fn standby(&self) -> usize {
        0
    }
}

/// Runs runtimes as plain child processes: no isolation. For development and for tests of the
/// engine; never the default on Linux once the sandbox launcher exists.
#[derive(Debug, Clone)]
pub struct ProcessLauncher {
    /// Each environment gets `<tmp_root>/<env-id>` as its private `TMPDIR`.
    pub tmp_root: PathBuf,
}

struct GroupProcess {
    pid: u32,
    tmp: PathBuf,
    /// True once the leader is reaped: from then on its number may be anyone's.
    reaped: Arc<Mutex<bool>>,
}

impl Process for GroupProcess {
    fn kill(&self) {
        let reaped = self.reaped.lock().unwrap_or_else(PoisonError::into_inner);
        if *reaped {
            return;
        }
        if let Err(e) = nimbus_sandbox::process::kill_group(self.pid) {
            tracing::warn!(pid = self.pid, error = %e, "could not end the runtime's process group");
        }
    }

    fn peak_memory_bytes(&self) -> Option<u64> {
        let reaped = self.reaped.lock().unwrap_or_else(PoisonError::into_inner);
        if *reaped {
            return None;
        }
        nimbus_sandbox::process::peak_rss_kib(self.pid).map(|k| k * 1024)
    }
}

impl Drop for GroupProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// Waits for `child` to exit without reaping it, then reaps it while holding `reaped`, so that
/// a kill never races the reaping.
async fn watch_child(
    mut child: std::process::Child,
    pidfd: nimbus_sandbox::process::Pidfd,
    reaped: Arc<Mutex<bool>>,
    tx: watch::Sender<Option<String>>,
) {
    match pidfd.into_async() {
        Ok(fd) => {
            let _ = fd.exited().await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch a runtime's exit");
            return;
        }
    }
    let status = {
        let mut r = reaped.lock().unwrap_or_else(PoisonError::into_inner);
        // The process has exited (its pidfd is readable): this does not block.
        let status = child.wait();
        *r = true;
        status
    };
    let _ = tx.send(Some(describe(status)));
}

pub(crate) fn describe(status: io::Result<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(9)) => "signal: killed".to_string(),
            (None, Some(sig)) => format!("signal: {sig}"),
            (None, None) => "unknown exit".to_string(),
        },
        Err(e) => format!("wait failed: {e}"),
    }
}

impl Launcher for ProcessLauncher {
    fn launch(&self, spec: &LaunchSpec) -> io::Result<Launched> {
        use std::os::unix::process::CommandExt;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        // Loopback on the host: the process launcher isolates nothing, this included.
        let api = if spec.wants_endpoint() {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.set_nonblocking(true)?;
            Some(l)
        } else {
            None
        };
        let tmp = self.tmp_root.join(&spec.env_id);
        std::fs::create_dir_all(&tmp)?;
        let (reader, writer) = io::pipe()?;
        let Some((program, args)) = spec.argv.split_first() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty argv"));
        };
        let mut cmd = std::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("TMPDIR", &tmp)
            .current_dir(&spec.code_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(writer.try_clone()?))
            .stderr(Stdio::from(writer))
            .process_group(0);
        if let Some(l) = &api {
            cmd.env(ENDPOINT_VARIABLE, format!("http://{}", l.local_addr()?));
        }
        let spawned = cmd.spawn();
        // Our copies of the pipe's write end go with the command, so that the reader sees the
        // end of output when the runtime's tree is gone.
        drop(cmd);
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        let pid = child.id();
        // Nobody has waited for the child yet, so the number is still its own.
        let pidfd = match nimbus_sandbox::process::Pidfd::open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = nimbus_sandbox::process::kill_group(pid);
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        let reaped = Arc::new(Mutex::new(false));
        let (tx, rx) = watch::channel(None);
        tokio::spawn(watch_child(child, pidfd, Arc::clone(&reaped), tx));
        Ok(Launched {
            endpoint: RuntimeEndpoint::Tcp(listener),
            output: reader,
            process: Box::new(GroupProcess { pid, tmp, reaped }),
            exited: rx,
            api,
        })
    }

    fn name(&self) -> &'static str {
        "process"
    }

    fn layout(
        &self,
        code_dir: &std::path::Path,
        runtime_dir: &std::path::Path,
        sdk_dir: Option<&std::path::Path>,
    ) -> Layout {
        Layout {
            task_root: code_dir.to_path_buf(),
            runtime_dir: runtime_dir.to_path_buf(),
            sdk_dir: sdk_dir.map(std::path::Path::to_path_buf),
        }
    }
}
