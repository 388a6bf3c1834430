//! Nimbus execution environments: the per-environment Runtime API, pools of warm environments
//! per function version, cold and warm starts, timeouts, log capture and Lambda's log lines.
//!
//! It runs code only through a [`launcher::Launcher`]; it never touches storage or the public
//! API, and it never makes raw Linux calls itself (those live in `nimbus-sandbox`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod environment;
mod error;
pub mod launcher;
pub mod logs;
mod output;
mod runtime_api;
pub mod runtimes;
pub mod sandbox_launcher;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use serde_json::json;
use sha2::{Digest, Sha256};

pub use error::EngineError;
pub use runtime_api::MAX_RESPONSE_BYTES;

use crate::environment::{Environment, InitFailure, Input, RunResult};
use crate::launcher::{LaunchSpec, Launcher};
use crate::logs::{LogEvent, LogSink, Report};
use crate::runtimes::{RuntimeKind, Runtimes};

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How long an idle environment is kept warm.
    pub keep_alive: Duration,
    /// Longest init phase.
    pub init_timeout: Duration,
    /// Most invocations running at once, across all functions.
    pub concurrency_limit: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_secs(600),
            // AWS compat: the init phase of on-demand environments is limited to 10 s.
            init_timeout: Duration::from_secs(10),
            concurrency_limit: 1000,
        }
    }
}

/// A function version as the engine runs it.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// Function name.
    pub name: String,
    /// `$LATEST` or a version number.
    pub version: String,
    /// Region, for `AWS_REGION` and ARNs.
    pub region: String,
    /// Runtime id.
    pub runtime: String,
    /// Handler.
    pub handler: String,
    /// The unpacked, read-only code.
    pub code_dir: PathBuf,
    /// MB.
    pub memory_mb: u32,
    /// Invocation time limit.
    pub timeout: Duration,
    /// MB of `/tmp`.
    pub ephemeral_mb: u32,
    /// The function's own variables.
    pub environment: BTreeMap<String, String>,
    /// Log group.
    pub log_group: String,
    /// Changes whenever code or configuration change: environments of another generation are
    /// never used for it.
    pub generation: String,
}

/// One synchronous invocation.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// The request id (also the runtime's `Lambda-Runtime-Aws-Request-Id`).
    pub request_id: String,
    /// The ARN as invoked.
    pub invoked_arn: String,
    /// Raw payload bytes.
    pub payload: Vec<u8>,
    /// Decoded client context JSON, if any.
    pub client_context: Option<String>,
}

/// What an invocation produced.
#[derive(Debug, Clone)]
pub struct InvokeOutcome {
    /// The bytes the runtime answered with, or the error document.
    pub payload: Bytes,
    /// True when the function (or the platform, on its behalf) failed.
    pub function_error: bool,
    /// This invocation's log lines, START to REPORT.
    pub log: String,
    /// Billed milliseconds.
    pub billed_ms: u64,
}

struct Idle {
    env: Environment,
    since: Instant,
}

/// Runs invocations in pools of environments.
pub struct Engine {
    config: EngineConfig,
    launcher: Arc<dyn Launcher>,
    runtimes: Runtimes,
    logs: Arc<dyn LogSink>,
    idle: Mutex<HashMap<String, Vec<Idle>>>,
    running: AtomicU32,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn hex32() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// `YYYY/MM/DD/[$LATEST]<32 hex>`.
fn log_stream_name(version: &str, env_id: &str) -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}/{:02}/{:02}/[{version}]{env_id}",
        t.year(),
        u8::from(t.month()),
        t.day()
    )
}

fn error_body(error_type: &str, message: String) -> Bytes {
    Bytes::from(json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

struct Admission<'a>(&'a AtomicU32);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Engine {
    /// An engine that launches with `launcher` and writes logs to `logs`.
    pub fn new(
        config: EngineConfig,
        launcher: Arc<dyn Launcher>,
        runtimes: Runtimes,
        logs: Arc<dyn LogSink>,
    ) -> Arc<Self> {
        Arc::new(Self {
            config,
            launcher,
            runtimes,
            logs,
            idle: Mutex::new(HashMap::new()),
            running: AtomicU32::new(0),
        })
    }

    /// The runtimes this engine serves.
    pub fn runtimes(&self) -> &Runtimes {
        &self.runtimes
    }

    /// The launcher's name.
    pub fn launcher_name(&self) -> &'static str {
        self.launcher.name()
    }

    fn pool_key(f: &FunctionSpec) -> String {
        format!("{}:{}:{}", f.name, f.version, f.region)
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Idle>>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A warm environment of this generation, newest first; older generations are dropped.
    fn take_warm(&self, f: &FunctionSpec) -> Option<Environment> {
        let mut idle = self.idle();
        let list = idle.get_mut(&Self::pool_key(f))?;
        list.retain(|i| i.env.generation == f.generation);
        list.pop().map(|i| i.env)
    }

    fn put_warm(&self, key: String, env: Environment) {
        self.idle().entry(key).or_default().push(Idle {
            env,
            since: Instant::now(),
        });
    }

    /// Drops every idle environment of function `name` (after an update or a delete).
    pub fn evict(&self, name: &str) {
        let prefix = format!("{name}:");
        let gone: Vec<Vec<Idle>> = {
            let mut idle = self.idle();
            let keys: Vec<String> = idle
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .cloned()
                .collect();
            keys.iter().filter_map(|k| idle.remove(k)).collect()
        };
        drop(gone);
    }

    /// Ends idle environments unused for longer than the keep-alive; returns how many.
    pub fn reap(&self) -> usize {
        let keep = self.config.keep_alive;
        let mut reaped = Vec::new();
        {
            let mut idle = self.idle();
            for list in idle.values_mut() {
                let (old, fresh): (Vec<Idle>, Vec<Idle>) = std::mem::take(list)
                    .into_iter()
                    .partition(|i| i.since.elapsed() >= keep);
                *list = fresh;
                reaped.extend(old);
            }
            idle.retain(|_, l| !l.is_empty());
        }
        reaped.len()
    }

    /// Ends every idle environment and what the launcher keeps ready (shutdown).
    pub fn shutdown(&self) {
        let all: Vec<Vec<Idle>> = self.idle().drain().map(|(_, v)| v).collect();
        drop(all);
        self.launcher.shutdown();
    }

    /// Ends everything, and waits (up to `within`) for the launcher to clean up after it.
    pub async fn shutdown_and_wait(&self, within: Duration) {
        self.shutdown();
        let deadline = Instant::now() + within;
        while self.launcher.cleaning() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// How many environments are idle.
    pub fn idle_count(&self) -> usize {
        self.idle().values().map(Vec::len).sum()
    }

    /// Starts a background task that reaps idle environments every `every`.
    pub fn spawn_reaper(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(engine) = weak.upgrade() else { return };
                let n = engine.reap();
                if n > 0 {
                    tracing::debug!(reaped = n, "idle environments ended");
                }
            }
        })
    }

    fn launch_spec(
        &self,
        f: &FunctionSpec,
        rt: &runtimes::RuntimeInfo,
        env_id: &str,
        log_stream: &str,
    ) -> LaunchSpec {
        let layout = self.launcher.layout(&f.code_dir, &rt.runtime_dir);
        let task = layout.task_root.display().to_string();
        let rt_dir = layout.runtime_dir.display().to_string();
        let argv: Vec<OsString> = match rt.kind {
            RuntimeKind::Python => vec![
                rt.interpreter.clone().unwrap_or_default().into(),
                "-u".into(),
                "-s".into(),
                "-B".into(),
                layout.runtime_dir.join("bootstrap.py").into(),
            ],
            RuntimeKind::Node => vec![
                rt.interpreter.clone().unwrap_or_default().into(),
                layout.runtime_dir.join("bootstrap.js").into(),
            ],
            RuntimeKind::Provided => vec![layout.task_root.join("bootstrap").into()],
        };
        // AWS compat: the variables Lambda sets (spec/lambda-compat.md §3); the function's own
        // may override only the ones Lambda lets them (LANG, PATH, LD_LIBRARY_PATH, TZ, ...).
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            env.insert(k.to_string(), v);
        };
        set("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".into());
        set(
            "LD_LIBRARY_PATH",
            format!("/lib64:/usr/lib64:{rt_dir}:{rt_dir}/lib:{task}:{task}/lib:/opt/lib"),
        );
        set("LANG", "en_US.UTF-8".into());
        set("TZ", ":UTC".into());
        set("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR".into());
        if rt.kind == RuntimeKind::Node {
            set(
                "NODE_PATH",
                format!("/opt/nodejs/node_modules:{rt_dir}/node_modules:{task}/node_modules"),
            );
        }
        for (k, v) in &f.environment {
            env.insert(k.clone(), v.clone());
        }
        let mut set = |k: &str, v: String| {
            env.insert(k.to_string(), v);
        };
        set("AWS_LAMBDA_FUNCTION_NAME", f.name.clone());
        set("AWS_LAMBDA_FUNCTION_VERSION", f.version.clone());
        set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory_mb.to_string());
        set("AWS_LAMBDA_LOG_GROUP_NAME", f.log_group.clone());
        set("AWS_LAMBDA_LOG_STREAM_NAME", log_stream.to_string());
        set("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into());
        set("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", f.runtime));
        set("AWS_REGION", f.region.clone());
        set("AWS_DEFAULT_REGION", f.region.clone());
        set("_HANDLER", f.handler.clone());
        set("LAMBDA_TASK_ROOT", task.clone());
        set("LAMBDA_RUNTIME_DIR", rt_dir);
        LaunchSpec {
            env_id: env_id.to_string(),
            argv,
            env: env.into_iter().collect(),
            code_dir: f.code_dir.clone(),
            runtime_dir: rt.runtime_dir.clone(),
            memory_mb: f.memory_mb,
            ephemeral_mb: f.ephemeral_mb,
        }
    }

    fn init_start_line(&self, f: &FunctionSpec, rt: &runtimes::RuntimeInfo) -> String {
        let interpreter = rt
            .interpreter
            .as_ref()
            .map_or_else(|| "bootstrap".to_string(), |p| p.display().to_string());
        let family = f.runtime.trim_end_matches(".x");
        let digest = hex::encode(Sha256::digest(format!("{}|{interpreter}", f.runtime)));
        format!(
            "INIT_START Runtime Version: {family}.nimbus\tRuntime Version ARN: arn:aws:lambda:{}::runtime:{digest}\tInterpreter: {interpreter}\tLauncher: {}",
            f.region,
            self.launcher.name()
        )
    }

    /// Runs one synchronous invocation: a warm environment of this generation if one is idle,
    /// else a new one (never waiting for a busy one).
    pub async fn invoke(
        &self,
        f: &FunctionSpec,
        req: InvokeRequest,
    ) -> Result<InvokeOutcome, EngineError> {
        let limit = self.config.concurrency_limit;
        if self.running.fetch_add(1, Ordering::SeqCst) >= limit {
            self.running.fetch_sub(1, Ordering::SeqCst);
            return Err(EngineError::ConcurrencyLimit(limit));
        }
        let _admitted = Admission(&self.running);
        let key = Self::pool_key(f);
        let mut env = match self.take_warm(f) {
            Some(env) => env,
            None => {
                let env_id = hex32();
                let stream = log_stream_name(&f.version, &env_id);
                let rt = self.runtimes.resolve(&f.runtime)?;
                let spec = self.launch_spec(f, &rt, &env_id, &stream);
                if let Some(failure) = missing_bootstrap(f) {
                    return Ok(self.init_failed(f, &req, &stream, failure, ""));
                }
                self.logs.write(
                    &f.log_group,
                    &stream,
                    vec![LogEvent {
                        timestamp_ms: now_ms(),
                        message: self.init_start_line(f, &rt),
                    }],
                );
                let launched = Environment::start(
                    Arc::clone(&self.launcher),
                    spec,
                    f.generation.clone(),
                    stream.clone(),
                    self.config.init_timeout,
                )
                .await;
                match launched {
                    Ok(Ok(env)) => {
                        env.init_done();
                        let init_output = env.output.take();
                        self.logs.write(
                            &f.log_group,
                            &stream,
                            logs::events(&init_output, now_ms()),
                        );
                        env
                    }
                    Ok(Err((failure, output))) => {
                        return Ok(self.init_failed(f, &req, &stream, failure, &output))
                    }
                    Err(source) => {
                        return Err(EngineError::Launch {
                            function: f.name.clone(),
                            source,
                        })
                    }
                }
            }
        };

        let start_ms = now_ms();
        let started = Instant::now();
        let deadline = started + f.timeout;
        let deadline_ms = start_ms + i64::try_from(f.timeout.as_millis()).unwrap_or(i64::MAX);
        let input = Input {
            request_id: req.request_id.clone(),
            deadline_ms,
            invoked_arn: req.invoked_arn.clone(),
            trace_id: format!(
                "Root=1-{:08x}-{};Parent={:016x};Sampled=0",
                start_ms / 1000,
                &hex32()[..24],
                rand::random::<u64>()
            ),
            client_context: req.client_context.clone(),
            payload: if req.payload.is_empty() {
                b"{}".to_vec()
            } else {
                req.payload.clone()
            },
        };
        let result = env.invoke(input, deadline).await;
        let duration = started.elapsed();
        let output = env.output.take();
        let id = &req.request_id;
        let (payload, function_error, status, keep) = match result {
            RunResult::Response(b) => (b, false, None, true),
            RunResult::Error { error_type, body } => (body, true, Some(("error", Some(error_type))), true),
            RunResult::ResponseTooLarge => (
                Bytes::from(json!({
                    "errorMessage": format!("Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
                    "errorType": "Function.ResponseSizeTooLarge",
                }).to_string()),
                true,
                Some(("error", Some("Function.ResponseSizeTooLarge".to_string()))),
                true,
            ),
            RunResult::TimedOut => (
                error_body("Sandbox.Timedout", format!("RequestId: {id} Error: Task timed out after {:.2} seconds", f.timeout.as_secs_f64())),
                true,
                Some(("timeout", None)),
                false,
            ),
            RunResult::Exited(how) => {
                // AWS compat: a runtime killed for exceeding its memory is reported as such.
                let error_type = if env.oom_killed() { "Runtime.OutOfMemory" } else { "Runtime.ExitError" };
                (
                    error_body(error_type, exit_message(id, &how)),
                    true,
                    Some(("error", Some(error_type.to_string()))),
                    false,
                )
            }
        };
        let report = Report {
            request_id: id,
            duration,
            memory_mb: f.memory_mb,
            // AWS compat: an environment killed for its memory used all of it.
            max_memory_mb: if env.oom_killed() {
                u64::from(f.memory_mb)
            } else {
                env.max_memory_mb()
            },
            init: env.init_duration.take(),
            status: status.as_ref().map(|(s, t)| (*s, t.as_deref())),
        };
        let mut lines = vec![logs::start_line(id, &f.version)];
        lines.extend(output.lines().map(str::to_string));
        lines.push(logs::end_line(id));
        lines.push(logs::report_line(&report));
        let log = lines.join("\n") + "\n";
        self.logs
            .write(&f.log_group, &env.log_stream, logs::events(&log, start_ms));
        if keep {
            self.put_warm(key, env);
        } else {
            env.kill();
        }
        Ok(InvokeOutcome {
            payload,
            function_error,
            log,
            billed_ms: u64::try_from(logs::billed_ms(duration)).unwrap_or(u64::MAX),
        })
    }

    fn init_failed(
        &self,
        f: &FunctionSpec,
        req: &InvokeRequest,
        stream: &str,
        failure: InitFailure,
        output: &str,
    ) -> InvokeOutcome {
        let id = &req.request_id;
        let (body, error_type) = match failure {
            InitFailure::Error { error_type, body } => (body, error_type),
            InitFailure::Exited(how) => (
                error_body("Runtime.ExitError", exit_message(id, &how)),
                "Runtime.ExitError".to_string(),
            ),
            InitFailure::TimedOut(limit) => (
                error_body(
                    "Sandbox.Timedout",
                    format!(
                        "RequestId: {id} Error: Init phase timed out after {:.2} seconds",
                        limit.as_secs_f64()
                    ),
                ),
                "Sandbox.Timedout".to_string(),
            ),
        };
        let report = Report {
            request_id: id,
            duration: Duration::ZERO,
            memory_mb: f.memory_mb,
            max_memory_mb: 0,
            init: None,
            status: Some(("error", Some(&error_type))),
        };
        let mut lines: Vec<String> = output.lines().map(str::to_string).collect();
        lines.push(logs::start_line(id, &f.version));
        lines.push(logs::end_line(id));
        lines.push(logs::report_line(&report));
        let log = lines.join("\n") + "\n";
        self.logs
            .write(&f.log_group, stream, logs::events(&log, now_ms()));
        InvokeOutcome {
            payload: body,
            function_error: true,
            log,
            billed_ms: 0,
        }
    }
}

/// AWS compat: a `provided` function whose package has no executable `bootstrap`.
fn missing_bootstrap(f: &FunctionSpec) -> Option<InitFailure> {
    use std::os::unix::fs::PermissionsExt;
    if RuntimeKind::of(&f.runtime) != Some(RuntimeKind::Provided) {
        return None;
    }
    let message = match std::fs::metadata(f.code_dir.join("bootstrap")) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => return None,
        Ok(_) => "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]: /var/task/bootstrap is not an executable file",
        Err(_) => "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]",
    };
    Some(InitFailure::Error {
        error_type: "Runtime.InvalidEntrypoint".into(),
        body: error_body("Runtime.InvalidEntrypoint", message.into()),
    })
}

/// AWS compat: how Lambda words a runtime that exited during an invocation.
fn exit_message(request_id: &str, how: &str) -> String {
    if how == "exit status 0" {
        format!("RequestId: {request_id} Error: Runtime exited without providing a reason")
    } else {
        format!("RequestId: {request_id} Error: Runtime exited with error: {how}")
    }
}

/// Prepares the server process for the sandbox launcher: a private mount namespace, so that
/// what it mounts for environments is gone with it. Call before any thread is started.
pub fn prepare_sandbox_process() -> std::io::Result<()> {
    nimbus_sandbox::private_mount_namespace()
}

/// The `sandbox-init` helper's entry point (our binary re-executed by the sandbox launcher).
pub fn sandbox_init() -> ! {
    nimbus_sandbox::init::main()
}

/// The last 4 KB of an invocation's log, as `X-Amz-Log-Result` carries it (before base64).
pub fn log_tail(log: &str) -> &str {
    logs::tail(log)
}
