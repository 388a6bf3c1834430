//! Nimbus execution environments: the invocation pipeline every source invokes through, the
//! per-environment Runtime API, pools of warm environments per function version, cold and warm
//! starts, timeouts, log capture and Lambda's log lines.
//!
//! It runs code only through a [`launcher::Launcher`]; it never touches storage (a
//! [`resolve::FunctionSource`] loads configurations) or the public API, and it never makes raw
//! Linux calls itself (those live in `nimbus-sandbox`).
//!
//! The map: [`invocation`] (what goes in and comes out), `pipeline` (the stages, in order),
//! [`resolve`] (configurations and their cache), `admission` (concurrency permits), `pool`
//! (idle environments), `environment` (one environment), `runtime_api` (its Runtime API),
//! `launch_spec` (what a cold start launches), `finish` (endings and their log lines),
//! [`logs`], `output`, [`launcher`], [`sandbox_launcher`], [`runtimes`], [`clock`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admission;
mod buckets;
pub mod clock;
pub mod code_leases;
mod environment;
mod error;
mod finish;
pub mod invocation;
mod launch_spec;
pub mod launcher;
mod log_budget;
mod log_format;
pub mod logs;
pub mod observe;
mod output;
mod pipeline;
mod pool;
mod provisioned;
pub mod resolve;
mod runtime_api;
pub mod runtimes;
pub mod sandbox_launcher;
mod scaling;
pub mod services;
#[cfg(test)]
mod tests;
pub mod trace;
mod tree_images;

use std::sync::Arc;
use std::time::Duration;

pub use error::{EngineError, InvokeError};
pub use invocation::{
    FunctionError, InvocationOutcome, InvocationRequest, InvocationType, LogType, RequestId,
    ResponseSink, StreamPart, ThrottleReason,
};
pub use nimbus_sandbox::cgroup::{Ceiling, CpuPolicy};
/// The egress network's configuration and firewall (from the sandbox crate).
pub use nimbus_sandbox::egress;
pub use nimbus_sandbox::net::NetworkUsage;
pub use provisioned::ProvisionedStatus;
pub use resolve::{Egress, FunctionSource, FunctionSpec, LogControls, ResolveError};
pub use runtime_api::{MAX_RESPONSE_BYTES, MAX_STREAMED_BYTES};

use crate::admission::Admission;
use crate::clock::{Clock, SystemClock};
use crate::environment::Environment;
use crate::launcher::Launcher;
use crate::logs::LogSink;
use crate::pool::Pools;
use crate::resolve::ConfigCache;
use crate::runtimes::Runtimes;
use crate::services::EnvironmentServices;

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How long an idle environment is kept warm.
    pub keep_alive: Duration,
    /// Longest init phase.
    pub init_timeout: Duration,
    /// Most invocations running at once, across all functions.
    pub concurrency_limit: u32,
    /// Below this much available host memory (MiB; 0: never), the reaper ends idle
    /// environments, the longest idle first, before they would crowd out new ones.
    pub memory_floor_mib: u64,
    /// Most init phases running at once; more cold starts wait their turn (their init limit
    /// counts from when it begins). Without a bound, a burst of a thousand cold starts on a
    /// few cores runs a thousand inits at once and none finishes within its 10 s.
    pub max_concurrent_inits: usize,
    /// Bytes of its own output one function may have logged per minute, across all its
    /// environments (0: no quota); the rest is dropped, and the log says so.
    pub log_bytes_per_function_per_minute: u64,
    /// New environments one function may get per 10 seconds (Lambda's scaling rate; 0: no
    /// limit); a cold start past it is throttled.
    pub new_environments_per_10s: u32,
}

/// Twice the CPUs, at least 4.
fn default_concurrent_inits() -> usize {
    std::thread::available_parallelism()
        .map_or(4, |n| n.get() * 2)
        .max(4)
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_secs(600),
            // AWS compat: the init phase of on-demand environments is limited to 10 s.
            init_timeout: Duration::from_secs(10),
            concurrency_limit: 1000,
            memory_floor_mib: 512,
            max_concurrent_inits: default_concurrent_inits(),
            log_bytes_per_function_per_minute: 64 << 20,
            // AWS compat: 1,000 execution environments every 10 seconds, per function.
            new_environments_per_10s: 1000,
        }
    }
}

/// Runs invocations in pools of environments.
pub struct Engine {
    config: EngineConfig,
    launcher: Arc<dyn Launcher>,
    runtimes: Runtimes,
    logs: Arc<dyn LogSink>,
    source: Arc<dyn FunctionSource>,
    cache: ConfigCache,
    admission: Admission,
    pools: Pools,
    clock: Arc<dyn Clock>,
    /// The server's side of environments (credentials, the API listener), once it is set.
    services: std::sync::RwLock<Option<Arc<dyn EnvironmentServices>>>,
    /// Provisioned concurrency targets.
    provisioned: provisioned::Provisioned,
    /// Turns for init phases ([`EngineConfig::max_concurrent_inits`]).
    inits: tokio::sync::Semaphore,
    /// Which Active-tracing invocations are recorded when their callers did not decide.
    sampler: trace::Sampler,
    /// Available host memory, MiB (`/proc/meminfo`'s MemAvailable; tests replace it).
    memory_probe: std::sync::RwLock<Arc<dyn Fn() -> Option<u64> + Send + Sync>>,
    /// Told every invocation's figures, once it is set.
    observer: std::sync::OnceLock<Arc<dyn observe::Observer>>,
    /// Which packages live environments run.
    code_leases: Arc<code_leases::CodeLeases>,
    /// Each function's log quota.
    log_budget: log_budget::LogBudget,
    /// Each function's scaling rate.
    scaling: scaling::ScalingRate,
}

/// MemAvailable of `/proc/meminfo`, MiB.
fn available_memory_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

impl Engine {
    /// An engine that launches with `launcher`, loads configurations from `source` and writes
    /// logs to `logs`.
    pub fn new(
        config: EngineConfig,
        launcher: Arc<dyn Launcher>,
        runtimes: Runtimes,
        logs: Arc<dyn LogSink>,
        source: Arc<dyn FunctionSource>,
    ) -> Arc<Self> {
        Self::with_clock(
            config,
            launcher,
            runtimes,
            logs,
            source,
            Arc::new(SystemClock),
        )
    }

    /// [`Engine::new`] with a wall clock of the caller's.
    pub fn with_clock(
        config: EngineConfig,
        launcher: Arc<dyn Launcher>,
        runtimes: Runtimes,
        logs: Arc<dyn LogSink>,
        source: Arc<dyn FunctionSource>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        let log_budget = log_budget::LogBudget::new(config.log_bytes_per_function_per_minute);
        let scaling = scaling::ScalingRate::new(config.new_environments_per_10s);
        Arc::new(Self {
            admission: Admission::new(config.concurrency_limit),
            inits: tokio::sync::Semaphore::new(config.max_concurrent_inits.max(1)),
            sampler: trace::Sampler::default(),
            config,
            launcher,
            runtimes,
            logs,
            source,
            cache: ConfigCache::default(),
            pools: Pools::default(),
            clock,
            services: std::sync::RwLock::new(None),
            provisioned: provisioned::Provisioned::default(),
            memory_probe: std::sync::RwLock::new(Arc::new(available_memory_mib)),
            observer: std::sync::OnceLock::new(),
            code_leases: Arc::default(),
            log_budget,
            scaling,
        })
    }

    /// Has the launcher prepare the runtimes' files and SDKs ahead of the first cold start.
    pub fn preload_runtimes(&self) {
        self.launcher.preload(self.runtimes.trees());
    }

    /// A function's code package at `code_dir` is in place: the launcher prepares what its
    /// environments will need of it. Blocking (the sandbox launcher copies the package into a
    /// read-only file system); a failure is logged, and the first cold start tries again.
    pub fn prepare_code(&self, code_dir: &std::path::Path) {
        self.launcher.prepare(code_dir);
    }

    /// The code package at `code_dir` is being removed (no function uses it and no environment
    /// runs it): the launcher lets go of what it keeps of it.
    pub fn code_removed(&self, code_dir: &std::path::Path) {
        self.launcher.forget(code_dir);
    }

    /// Which code packages this engine's environments run ([`code_leases`]).
    pub fn code_leases(&self) -> &Arc<code_leases::CodeLeases> {
        &self.code_leases
    }

    /// From now on, every invocation's figures go to `observer` (set once; later calls are
    /// ignored).
    pub fn set_observer(&self, observer: Arc<dyn observe::Observer>) {
        let _ = self.observer.set(observer);
    }

    pub(crate) fn observe(&self, figures: &observe::InvocationFigures<'_>) {
        if let Some(o) = self.observer.get() {
            o.invocation(figures);
        }
    }

    /// From now on, new environments get credentials and an API endpoint from `services`.
    /// (Set after construction: the server's services need the server, which needs the
    /// engine.)
    pub fn set_services(&self, services: Arc<dyn EnvironmentServices>) {
        *self
            .services
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(services);
    }

    fn services(&self) -> Option<Arc<dyn EnvironmentServices>> {
        self.services
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The runtimes this engine serves.
    pub fn runtimes(&self) -> &Runtimes {
        &self.runtimes
    }

    /// The launcher's name (`process`, `sandbox`).
    pub fn launcher_name(&self) -> &'static str {
        self.launcher.name()
    }

    /// `function` was written (created, updated, tagged): its cached configuration is
    /// forgotten; idle environments of an older configuration go at its next invocation.
    pub fn function_changed(&self, function: &str) {
        self.cache.invalidate(function);
    }

    /// `function` was deleted: its configuration is forgotten and its idle environments end.
    pub fn function_deleted(&self, function: &str) {
        self.cache.invalidate(function);
        self.admission.forget(function);
        self.provisioned.forget(function);
        for env in self.pools.evict(function) {
            self.retire(env);
        }
    }

    /// Ends an environment off the event loop: ending one signals processes and unmounts its
    /// `/tmp`.
    fn retire(&self, env: Environment) {
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn_blocking(move || drop(env));
            }
            Err(_) => drop(env),
        }
    }

    /// Ends environments idle for longer than the keep-alive, and those whose runtime exited.
    /// Returns how many.
    pub fn reap(&self) -> usize {
        let mut reaped = self.pools.reap(self.config.keep_alive);
        // Under memory pressure, the longest idle go first: an eighth of the idle ones (at
        // least one) each tick until the pressure is off.
        let floor = self.config.memory_floor_mib;
        let probe = Arc::clone(
            &self
                .memory_probe
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if let Some(available) = probe().filter(|a| floor > 0 && *a < floor) {
            let n = (self.pools.count() / 8).max(1);
            let evicted = self.pools.evict_longest_idle(n);
            if !evicted.is_empty() {
                tracing::info!(
                    available_mib = available,
                    floor_mib = floor,
                    ended = evicted.len(),
                    "memory pressure: idle environments ended"
                );
            }
            reaped.extend(evicted);
        }
        let n = reaped.len();
        for env in reaped {
            self.retire(env);
        }
        n
    }

    /// Ends every idle environment and what the launcher keeps ready, and waits (up to
    /// `within`) for the launcher to clean up after them.
    pub async fn shutdown(&self, within: Duration) {
        // The services hold the server, which holds the engine: let go of them.
        self.services
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let idle = self.pools.drain();
        let launcher = Arc::clone(&self.launcher);
        let _ = tokio::task::spawn_blocking(move || {
            drop(idle);
            launcher.shutdown();
        })
        .await;
        let deadline = tokio::time::Instant::now() + within;
        while self.launcher.cleaning() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// How many environments are idle.
    pub fn idle_count(&self) -> usize {
        self.pools.count()
    }

    /// Replaces how available host memory is read (tests).
    #[cfg(test)]
    pub(crate) fn set_memory_probe(&self, probe: Arc<dyn Fn() -> Option<u64> + Send + Sync>) {
        *self
            .memory_probe
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = probe;
    }

    /// Sets the concurrency no function has reserved: the account's limit less the sum of
    /// reservations, which the caller keeps (the store knows every function's).
    pub fn set_unreserved_concurrency(&self, limit: u32) {
        self.admission.set_unreserved(limit);
    }

    /// The sampling rule of Active-tracing invocations whose callers did not decide:
    /// `reservoir` a second, then `rate` of the rest (default X-Ray's: 1, then 5%).
    pub fn set_trace_sampling(&self, reservoir: u32, rate: f64) {
        self.sampler.set(reservoir, rate);
    }

    /// How many sandboxes the launcher has ready ahead of need.
    pub fn standby_sandboxes(&self) -> usize {
        self.launcher.standby()
    }

    /// How many init phases are running now.
    pub fn initializing(&self) -> usize {
        self.config
            .max_concurrent_inits
            .max(1)
            .saturating_sub(self.inits.available_permits())
    }

    /// Connections open to the Runtime APIs of this process's environments.
    pub fn runtime_api_connections() -> usize {
        runtime_api::open_connections()
    }

    /// How many invocations hold a permit of the unreserved concurrency now.
    pub fn running(&self) -> u32 {
        self.admission.running_unreserved()
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
                // Provisioned environments that ended are made again.
                engine.provision().await;
            }
        })
    }
}

/// Prepares the server process for the sandbox launcher: a private mount namespace, so that
/// what it mounts for environments is gone with it. Call before any thread is started.
pub fn prepare_sandbox_process() -> std::io::Result<()> {
    nimbus_sandbox::private_mount_namespace()
}

/// Raises the soft limit of open files to the hard limit (the server holds a descriptor per
/// client connection and several per environment). Returns the new limit.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    nimbus_sandbox::process::raise_open_files_limit()
}

/// The `sandbox-init` helper's entry point (our binary re-executed by the sandbox launcher).
pub fn sandbox_init() -> ! {
    nimbus_sandbox::init::main()
}
