//! The `sandbox` launcher: each environment in its own Linux sandbox (namespaces, cgroups,
//! seccomp, read-only code, private `/tmp`, loopback-only network), built by our own binary
//! re-executed as the single-threaded `sandbox-init` helper. The default on Linux.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nimbus_sandbox::cgroup::{Ceiling, Cgroup, CgroupSetup, CpuPolicy, Limits};
use nimbus_sandbox::egress::{EgressNetwork, Lease};
use nimbus_sandbox::net::{Namespace, NetCounters, NetworkUsage};
use nimbus_sandbox::process::Pidfd;
use nimbus_sandbox::spec::{Bind, SandboxSpec};
use nimbus_sandbox::storage::{Scratch, TreeImage};
use nimbus_sandbox::SandboxError;
use tokio::sync::watch;

use crate::launcher::{LaunchSpec, Launched, Launcher, Layout, Process, RuntimeEndpoint};
use crate::tree_images::TreeImages;

/// Where runtimes reach the Runtime API, as on Lambda.
pub const RUNTIME_API_PORT: u16 = 9001;

/// Where, inside each sandbox, Nimbus's API listens for the function's SDK
/// (`AWS_ENDPOINT_URL`). Only that sandbox can reach it: it is in its network namespace.
pub const NIMBUS_API_PORT: u16 = 9002;

/// Where the runtime's AWS SDK is bound, read-only, inside the sandbox.
const SDK_DIR: &str = "/var/lang/sdk";
/// AWS compat: processes (and threads) per environment.
const PIDS_MAX: u64 = 1024;
/// AWS compat: open files per process.
const NOFILE: u64 = 1024;
/// Sandbox users: one uid per live environment, from a range of the operator's (by default
/// far above the ranges `/etc/subuid` hands out), never two at once: per-user limits and
/// signals stay inside one environment.
pub const DEFAULT_UID_BASE: u32 = 3_000_000_000;
/// How many uids the default range holds.
pub const DEFAULT_UID_COUNT: u32 = 1_000_000;

/// The uids of live environments.
struct UidPool {
    base: u32,
    count: u32,
    state: std::sync::Mutex<(u32, std::collections::HashSet<u32>)>,
}

impl UidPool {
    fn new(base: u32, count: u32) -> Self {
        // A random start, so that servers sharing the machine rarely share a uid.
        let cursor = rand::random::<u32>() % count.max(1);
        Self {
            base,
            count,
            state: std::sync::Mutex::new((cursor, std::collections::HashSet::new())),
        }
    }

    /// A uid no live environment has; none when every one of the range is in use.
    fn take(&self) -> Option<u32> {
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for _ in 0..self.count {
            let offset = st.0;
            st.0 = (st.0 + 1) % self.count;
            let uid = self.base + offset;
            if st.1.insert(uid) {
                return Some(uid);
            }
        }
        None
    }

    fn release(&self, uid: u32) {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .remove(&uid);
    }
}

/// Checks that `base..base+count` fits below the largest uid and overlaps none of the
/// subordinate id ranges of `subid` files (`/etc/subuid`, `/etc/subgid`: `name:start:count`).
pub fn check_uid_range(base: u32, count: u32, subid: &[(&str, &str)]) -> Result<(), String> {
    let end = u64::from(base) + u64::from(count);
    // 65534 is nobody; 2^32-1 is the invalid uid.
    if count == 0 || base < 65_536 || end > u64::from(u32::MAX) {
        return Err(format!(
            "the sandbox uid range {base}+{count} must lie within 65536..4294967295"
        ));
    }
    for (file, text) in subid {
        for line in text.lines() {
            let mut f = line.trim().split(':');
            let (Some(_), Some(start), Some(n)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let (Ok(start), Ok(n)) = (start.parse::<u64>(), n.parse::<u64>()) else {
                continue;
            };
            if start < end && u64::from(base) < start + n {
                return Err(format!(
                    "the sandbox uid range {base}+{count} overlaps {file}: {line}"
                ));
            }
        }
    }
    Ok(())
}

/// MB of the data disk left free beyond every `/tmp` image's full size.
const DISK_MARGIN_MB: u64 = 1024;

/// Ready scratch file systems kept per `/tmp` size.
const SCRATCH_READY: usize = 2;

/// Scratch file systems for `/tmp`, made ahead of need so that a cold start only binds one.
struct ScratchPool {
    dir: PathBuf,
    /// MB that the live images (ready or in use) may still grow to, in all.
    committed_mb: AtomicU64,
    /// How many times over the free space those promises may go (at least 1).
    overcommit: f64,
    /// One refill at a time, so the pool never grows past its size.
    refilling: std::sync::atomic::AtomicBool,
    ready: std::sync::Mutex<std::collections::HashMap<u32, Vec<Scratch>>>,
}

impl ScratchPool {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<u32, Vec<Scratch>>> {
        self.ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A ready one of `size_mb`, or one made now if none is ready. Refills come later
    /// ([`ScratchPool::refill`]), once the environment has started.
    fn take(self: &Arc<Self>, size_mb: u32) -> Result<Scratch, SandboxError> {
        let ready = self.lock().get_mut(&size_mb).and_then(Vec::pop);
        match ready {
            Some(s) => Ok(s),
            None => self.create(size_mb),
        }
    }

    /// A new image, admitted against the disk: its images are sparse, so each one made
    /// promises space it does not take yet. A new one is made only while the disk's free
    /// space covers every promise (all images full) plus a margin: `/tmp` of one function
    /// can never fill the data disk for everyone else.
    fn create(&self, size_mb: u32) -> Result<Scratch, SandboxError> {
        let needed = u64::from(size_mb);
        let committed = self.committed_mb.fetch_add(needed, Ordering::SeqCst);
        // The directory is made with the first image; the disk is the same before.
        let _ = std::fs::create_dir_all(&self.dir);
        let admitted = nimbus_sandbox::storage::available_mb(&self.dir).and_then(|available| {
            // The promises, scaled down by the operator's overcommit (1: none).
            let promised = ((committed + needed) as f64 / self.overcommit).ceil() as u64;
            if available < promised + DISK_MARGIN_MB {
                return Err(SandboxError::NoSpace {
                    dir: self.dir.clone(),
                    needed_mb: needed,
                    available_mb: available,
                    committed_mb: committed,
                });
            }
            Scratch::create(&self.dir, size_mb)
        });
        if admitted.is_err() {
            self.committed_mb.fetch_sub(needed, Ordering::SeqCst);
        }
        admitted
    }

    /// An image is gone (its environment ended): its promise with it.
    fn released(&self, size_mb: u32) {
        self.committed_mb
            .fetch_sub(u64::from(size_mb), Ordering::SeqCst);
    }

    fn refill(self: &Arc<Self>, size_mb: u32) {
        if self.refilling.swap(true, Ordering::SeqCst) {
            return;
        }
        let pool = Arc::clone(self);
        std::thread::spawn(move || {
            loop {
                if pool.lock().get(&size_mb).map_or(0, Vec::len) >= SCRATCH_READY {
                    break;
                }
                match pool.create(size_mb) {
                    Ok(s) => pool.lock().entry(size_mb).or_default().push(s),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not prepare ephemeral storage");
                        break;
                    }
                }
            }
            pool.refilling.store(false, Ordering::SeqCst);
        });
    }
}

/// Helpers kept started ahead of need, each in its cgroup and network namespace.
const STANDBY_READY: usize = 2;

/// A `sandbox-init` helper started ahead of need: it has joined its (not yet limited) cgroup,
/// holds its network namespace with the Runtime API and Nimbus API listeners, and waits for its
/// spec.
struct Standby {
    cgroup: Arc<Cgroup>,
    listener: std::net::TcpListener,
    api_listener: std::net::TcpListener,
    /// Its address on the egress bridge, if its namespace has egress.
    lease: Option<Lease>,
    /// Its namespace's traffic counters.
    counters: NetCounters,
    output: io::PipeReader,
    status: io::PipeReader,
    spec: io::PipeWriter,
    child: tokio::process::Child,
}

/// How the sandbox launcher runs environments.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// How environments share the CPU.
    pub cpu: CpuPolicy,
    /// The first uid of sandbox users.
    pub uid_base: u32,
    /// How many uids the range holds (at most that many environments at once).
    pub uid_count: u32,
    /// The egress network (`nat`), if the server has one.
    pub egress: Option<Arc<EgressNetwork>>,
    /// How many times over the disk's free space `/tmp` images may promise (at least 1).
    pub ephemeral_overcommit: f64,
    /// What all environments together may use; `None`: the host's memory and tasks less a
    /// reserve ([`Ceiling::of_this_host`]).
    pub ceiling: Option<Ceiling>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            cpu: CpuPolicy::default(),
            uid_base: DEFAULT_UID_BASE,
            uid_count: DEFAULT_UID_COUNT,
            egress: None,
            ephemeral_overcommit: 1.0,
            ceiling: None,
        }
    }
}

/// Starts environments in sandboxes.
pub struct SandboxLauncher {
    inner: Arc<Inner>,
}

struct Inner {
    cpu: CpuPolicy,
    scratch: Arc<ScratchPool>,
    helper: PathBuf,
    root_mountpoint: PathBuf,
    cgroups: CgroupSetup,
    binds: Vec<Bind>,
    symlinks: Vec<(PathBuf, PathBuf)>,
    uids: UidPool,
    egress: Option<Arc<EgressNetwork>>,
    standby: std::sync::Mutex<Vec<Standby>>,
    refilling: std::sync::atomic::AtomicBool,
    /// Launched environments whose cgroup is not removed yet.
    live: std::sync::atomic::AtomicUsize,
    /// Set at shutdown: no more standby helpers are started.
    closing: std::sync::atomic::AtomicBool,
    /// Read-only file systems of the code, runtime and SDK trees sandboxes bind.
    images: Arc<TreeImages>,
}

/// Where a sandbox's read-only trees come from on the host: each the root of a file system of
/// its own ([`TreeImages`]).
struct Sources {
    code: Arc<TreeImage>,
    runtime: Arc<TreeImage>,
    sdk: Option<Arc<TreeImage>>,
}

struct SandboxProcess {
    /// The sandbox's PID 1, by descriptor: killing it ends the whole pid namespace.
    init: Pidfd,
    cpu: CpuPolicy,
    /// For topping pools up once this environment's init phase is over (not during it: the work
    /// would compete with the runtime's own start for the CPU).
    launcher: std::sync::Weak<Inner>,
    ephemeral_mb: u32,
    /// OOM kills counted when the sandbox ended (its cgroup is removed right after).
    oom_at_exit: Arc<AtomicU64>,
    /// Most memory seen in use, bytes (sampled whenever it is asked for).
    peak: AtomicU64,
    cgroup: Arc<Cgroup>,
    /// What its network has carried.
    counters: NetCounters,
    /// Held for its drop: unmounted when the environment ends.
    _scratch: Scratch,
    /// Held for its drop: the address is free again when the environment ends.
    _lease: Option<Lease>,
    /// Held for their drop: the images it binds.
    _sources: Sources,
}

impl Process for SandboxProcess {
    fn kill(&self) {
        // Dying takes CPU too: a throttled sandbox of a thousand processes would take minutes.
        if self.cpu != CpuPolicy::None {
            self.cgroup.unlimit_cpu();
        }
        if let Err(e) = self.init.kill() {
            tracing::warn!(pid = self.init.pid(), error = %e, "could not end a sandbox");
        }
    }

    fn peak_memory_bytes(&self) -> Option<u64> {
        let now = self.cgroup.memory_in_use()?;
        Some(self.peak.fetch_max(now, Ordering::Relaxed).max(now))
    }

    fn oom_killed(&self) -> bool {
        self.cgroup.oom_kills() > 0 || self.oom_at_exit.load(Ordering::SeqCst) > 0
    }

    fn network_usage(&self) -> Option<NetworkUsage> {
        self.counters.read()
    }

    fn init_done(&self) {
        // Init ran under its own bound (Lambda bursts the init phase); now the policy's.
        if self.cpu != CpuPolicy::None {
            if let Err(e) = self.cgroup.limit_cpu(self.cpu) {
                tracing::warn!(error = %e, "could not limit an environment's CPU");
            }
        }
        if let Some(inner) = self.launcher.upgrade() {
            inner.refill_standby();
            inner.scratch.refill(self.ephemeral_mb);
        }
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        // The sandbox first; its scratch file system is unmounted when the field drops after.
        self.kill();
        if let Some(inner) = self.launcher.upgrade() {
            inner.scratch.released(self._scratch.size_mb);
        }
    }
}

/// The runtime files under `root` (the host's `/`, or a prepared root file system), as
/// read-only binds at the same places in the sandbox, or links where `root` has links (merged
/// `/usr`).
fn runtime_files(root: &Path) -> (Vec<Bind>, Vec<(PathBuf, PathBuf)>) {
    let mut binds = Vec::new();
    let mut links = Vec::new();
    for name in ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let source = root.join(name);
        let target = Path::new("/").join(name);
        match std::fs::symlink_metadata(&source) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(to) = std::fs::read_link(&source) {
                    links.push((target, to));
                }
            }
            Ok(m) if m.is_dir() => binds.push(Bind { source, target }),
            _ => {}
        }
    }
    // The dynamic loader's cache: without it every program searches the library directories.
    let cache = root.join("etc/ld.so.cache");
    if cache.is_file() {
        binds.push(Bind {
            source: cache,
            target: PathBuf::from("/etc/ld.so.cache"),
        });
    }
    (binds, links)
}

/// Code at `/var/task`, our bootstraps at `/var/runtime`, as on Lambda.
fn sandbox_layout() -> Layout {
    Layout {
        task_root: PathBuf::from("/var/task"),
        runtime_dir: PathBuf::from("/var/runtime"),
        sdk_dir: Some(PathBuf::from(SDK_DIR)),
    }
}

fn describe_exit(status: io::Result<std::process::ExitStatus>) -> String {
    // The helper exits with the runtime's code, or 128 + the signal that ended it.
    match status
        .as_ref()
        .ok()
        .and_then(std::process::ExitStatus::code)
    {
        Some(137) => "signal: killed".to_string(),
        Some(c) if c > 128 => format!("signal: {}", c - 128),
        _ => crate::launcher::describe(status),
    }
}

impl SandboxLauncher {
    /// Prepares cgroups (ending what an earlier run left), checks the seccomp policy, and finds
    /// the runtime files: the host's own (`runtime_root` = `/`) or those of a prepared root file
    /// system. `helper` is our own binary; `state_dir` a directory of ours.
    pub fn new(
        helper: PathBuf,
        state_dir: &Path,
        runtime_root: &Path,
        options: SandboxOptions,
    ) -> Result<Self, SandboxError> {
        let subid: Vec<(&str, String)> = ["/etc/subuid", "/etc/subgid"]
            .into_iter()
            .map(|f| (f, std::fs::read_to_string(f).unwrap_or_default()))
            .collect();
        let subid: Vec<(&str, &str)> = subid.iter().map(|(f, t)| (*f, t.as_str())).collect();
        check_uid_range(options.uid_base, options.uid_count, &subid).map_err(SandboxError::Init)?;
        let cpu = options.cpu;
        // Environments of this server live under a cgroup named after its state directory, so
        // that servers of other data directories on the machine are never touched.
        let scope = {
            use sha2::Digest;
            let canonical = std::fs::canonicalize(state_dir.parent().unwrap_or(state_dir))
                .unwrap_or_else(|_| state_dir.to_path_buf());
            hex::encode(&sha2::Sha256::digest(canonical.as_os_str().as_encoded_bytes())[..8])
        };
        let cgroups = nimbus_sandbox::cgroup::detect()?.scoped(&scope);
        let ceiling = options.ceiling.unwrap_or_else(Ceiling::of_this_host);
        cgroups.prepare(ceiling)?;
        tracing::info!(
            memory_mib = ceiling.memory_mib,
            pids = ceiling.pids,
            "ceiling on all environments together"
        );
        for stale in cgroups.leftovers() {
            stale.kill_all();
            for _ in 0..100 {
                if stale.is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = stale.remove();
        }
        nimbus_sandbox::seccomp::compile()?;
        let root_mountpoint = state_dir.join("root");
        std::fs::create_dir_all(&root_mountpoint).map_err(|source| SandboxError::Cgroup {
            path: root_mountpoint.clone(),
            source,
        })?;
        let (binds, symlinks) = runtime_files(runtime_root);
        let scratch_dir = state_dir.join("scratch");
        Scratch::clean(&scratch_dir);
        let scratch = Arc::new(ScratchPool {
            dir: scratch_dir,
            committed_mb: AtomicU64::new(0),
            overcommit: options.ephemeral_overcommit.max(1.0),
            refilling: std::sync::atomic::AtomicBool::new(false),
            ready: std::sync::Mutex::new(std::collections::HashMap::new()),
        });
        // The default size, ready before the first cold start.
        scratch.refill(512);
        let launcher = Self {
            inner: Arc::new(Inner {
                cpu,
                scratch,
                helper,
                root_mountpoint,
                cgroups,
                binds,
                symlinks,
                uids: UidPool::new(options.uid_base, options.uid_count),
                egress: options.egress.clone(),
                standby: std::sync::Mutex::new(Vec::new()),
                refilling: std::sync::atomic::AtomicBool::new(false),
                live: std::sync::atomic::AtomicUsize::new(0),
                closing: std::sync::atomic::AtomicBool::new(false),
                images: Arc::new(TreeImages::new(state_dir.join("images"))),
            }),
        };
        // Helpers ready before the first cold start (when called within the async runtime).
        if tokio::runtime::Handle::try_current().is_ok() {
            launcher.inner.refill_standby();
        }
        Ok(launcher)
    }
}

impl Inner {
    /// Starts a helper that joins a fresh cgroup and network namespace and waits for a spec.
    /// Must run within the tokio runtime (it spawns the helper as a tokio child).
    fn prepare_standby(&self, egress: bool) -> Result<Standby, SandboxError> {
        let id = format!("{:032x}", rand::random::<u128>());
        let cgroup = Arc::new(self.cgroups.create(&id)?);
        let made = (|| {
            let ports = [RUNTIME_API_PORT, NIMBUS_API_PORT];
            let Namespace {
                fd: netns,
                listeners: [listener, api_listener],
                counters,
                lease,
            } = match (&self.egress, egress) {
                (Some(net), true) => net.namespace(ports)?,
                _ => nimbus_sandbox::net::loopback_namespace(ports)?,
            };
            let (out_r, out_w) = io::pipe().map_err(SandboxError::Spawn)?;
            let (status_r, status_w) = io::pipe().map_err(SandboxError::Spawn)?;
            let (cmd, spec_w) = nimbus_sandbox::helper_command(
                &self.helper,
                &cgroup.procs_files(),
                &netns,
                &status_w,
                out_w,
            )?;
            let mut cmd = tokio::process::Command::from(cmd);
            cmd.kill_on_drop(true);
            let child = cmd.spawn().map_err(SandboxError::Spawn)?;
            drop(cmd);
            Ok(Standby {
                cgroup: Arc::clone(&cgroup),
                listener,
                api_listener,
                lease,
                counters,
                output: out_r,
                status: status_r,
                spec: spec_w,
                child,
            })
        })();
        if made.is_err() {
            let _ = cgroup.remove();
        }
        made
    }

    fn take_standby(&self, egress: bool) -> Option<Standby> {
        let mut standby = self
            .standby
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let i = standby.iter().rposition(|s| s.lease.is_some() == egress)?;
        Some(standby.swap_remove(i))
    }

    /// The kinds of network namespace standby helpers are kept ready with.
    fn standby_kinds(&self) -> &'static [bool] {
        if self.egress.is_some() {
            &[false, true]
        } else {
            &[false]
        }
    }

    /// Tops the standby helpers up, in the background, one refill at a time.
    fn refill_standby(self: &Arc<Self>) {
        if self.closing.load(Ordering::SeqCst) || self.refilling.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            loop {
                let short = {
                    let standby = inner
                        .standby
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    inner.standby_kinds().iter().copied().find(|kind| {
                        standby
                            .iter()
                            .filter(|s| s.lease.is_some() == *kind)
                            .count()
                            < STANDBY_READY
                    })
                };
                let Some(kind) = short else { break };
                if inner.closing.load(Ordering::SeqCst) {
                    break;
                }
                match inner.prepare_standby(kind) {
                    Ok(s) => inner
                        .standby
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(s),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not start a standby sandbox helper");
                        break;
                    }
                }
            }
            inner.refilling.store(false, Ordering::SeqCst);
        });
    }

    fn sandbox_spec(
        &self,
        spec: &LaunchSpec,
        sources: &Sources,
        scratch: &Scratch,
        uid: u32,
        egress: bool,
    ) -> SandboxSpec {
        let resolv = match (&self.egress, egress) {
            (Some(net), true) => net.config().resolv_conf(),
            _ => "# loopback only: no name servers\n".to_string(),
        };
        let layout = sandbox_layout();
        let mut binds = self.binds.clone();
        binds.push(Bind {
            source: sources.code.mountpoint.clone(),
            target: layout.task_root.clone(),
        });
        binds.push(Bind {
            source: sources.runtime.mountpoint.clone(),
            target: layout.runtime_dir,
        });
        let mut symlinks = self.symlinks.clone();
        if let (Some(sdk), Some(image)) = (&spec.sdk_dir, &sources.sdk) {
            binds.push(Bind {
                source: image.mountpoint.clone(),
                target: PathBuf::from(SDK_DIR),
            });
            // ES modules ignore NODE_PATH: an `import` of the SDK from /var/task resolves
            // through the node_modules of /var/task's ancestors, the root's among them (the
            // function's own node_modules still come first).
            if sdk.join("node_modules").is_dir() {
                symlinks.push((
                    PathBuf::from("/node_modules"),
                    PathBuf::from(format!("{SDK_DIR}/node_modules")),
                ));
            }
        }
        let mut env = spec.env.clone();
        env.push((
            "AWS_LAMBDA_RUNTIME_API".into(),
            format!("127.0.0.1:{RUNTIME_API_PORT}"),
        ));
        if spec.wants_endpoint() {
            env.push((
                crate::launcher::ENDPOINT_VARIABLE.into(),
                format!("http://127.0.0.1:{NIMBUS_API_PORT}"),
            ));
        }
        SandboxSpec {
            root_mountpoint: self.root_mountpoint.clone(),
            binds,
            symlinks,
            etc: vec![
                (
                    "passwd".into(),
                    format!("root:x:0:0:root:/root:/usr/sbin/nologin\nsbx_user1051:x:{uid}:{uid}::/tmp:/usr/sbin/nologin\n"),
                ),
                ("group".into(), format!("root:x:0:\nsbx_user1051:x:{uid}:\n")),
                ("hosts".into(), "127.0.0.1\tlocalhost\n::1\tlocalhost\n".into()),
                ("resolv.conf".into(), resolv),
                ("nsswitch.conf".into(), "passwd: files\ngroup: files\nhosts: files\n".into()),
            ],
            tmp_source: scratch.mountpoint.clone(),
            hostname: "nimbus".into(),
            uid,
            gid: uid,
            nofile: NOFILE,
            nproc: PIDS_MAX,
            argv: spec
                .argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            env,
            cwd: layout.task_root,
            seccomp: true,
        }
    }
}

impl Launcher for SandboxLauncher {
    fn launch(&self, spec: &LaunchSpec) -> io::Result<Launched> {
        let t0 = std::time::Instant::now();
        // The sandbox error stays the io error's source.
        let to_io = |e: SandboxError| io::Error::other(e);
        let inner = &self.inner;
        let egress = spec.egress && inner.egress.is_some();
        let standby = match inner.take_standby(egress) {
            Some(s) => s,
            None => inner.prepare_standby(egress).map_err(to_io)?,
        };
        let t_standby = t0.elapsed();
        let Standby {
            cgroup,
            listener,
            api_listener,
            lease,
            counters,
            output,
            status,
            spec: spec_pipe,
            mut child,
        } = standby;
        let helper_pid = child.id();
        // Released when the sandbox's processes are gone (or at once if it never starts).
        let uid = inner.uids.take();
        let claimed = (|| -> Result<(Pidfd, Scratch, Sources), SandboxError> {
            // The trees it binds, as file systems of their own (made now if new).
            let sources = Sources {
                code: inner.images.get(&spec.code_dir)?,
                runtime: inner.images.pinned(&spec.runtime_dir)?,
                sdk: spec
                    .sdk_dir
                    .as_deref()
                    .map(|d| inner.images.pinned(d))
                    .transpose()?,
            };
            cgroup.set_limits(Limits {
                memory_mb: u64::from(spec.memory_mb),
                pids: PIDS_MAX,
            })?;
            if inner.cpu == CpuPolicy::Weighted {
                cgroup.limit_cpu(CpuPolicy::Weighted)?;
            }
            if inner.cpu != CpuPolicy::None {
                cgroup.limit_init_cpu()?;
            }
            let scratch = inner.scratch.take(spec.ephemeral_mb)?;
            let started = (|| -> Result<Pidfd, SandboxError> {
                let uid = uid.ok_or_else(|| {
                    SandboxError::Init("every sandbox uid of the configured range is in use".into())
                })?;
                let sspec = inner.sandbox_spec(spec, &sources, &scratch, uid, lease.is_some());
                nimbus_sandbox::send_spec(spec_pipe, &sspec)?;
                let init_pid = nimbus_sandbox::read_init_pid(status)?;
                // PID 1 is the helper's child, and the helper (ours, not yet waited for) reaps
                // it only when it ends: checked to be that child, the descriptor is PID 1's own.
                let helper_pid = helper_pid.ok_or_else(|| {
                    SandboxError::Init("the helper exited before its sandbox started".into())
                })?;
                Pidfd::open_child_of(init_pid, helper_pid).map_err(SandboxError::Spawn)
            })();
            match started {
                Ok(init) => Ok((init, scratch, sources)),
                Err(e) => {
                    // The image is dropped with this error: its promise of space goes too.
                    inner.scratch.released(scratch.size_mb);
                    Err(e)
                }
            }
        })();
        let (init, scratch, sources) = match claimed {
            Ok(c) => c,
            Err(e) => {
                let _ = child.start_kill();
                let cg = Arc::clone(&cgroup);
                let owner = Arc::clone(inner);
                tokio::spawn(async move {
                    let _ = child.wait().await;
                    let _ = cg.remove();
                    if let Some(uid) = uid {
                        owner.uids.release(uid);
                    }
                });
                return Err(to_io(e));
            }
        };
        tracing::debug!(standby = ?t_standby, init_pid = ?t0.elapsed(), pid = init.pid(), "sandbox launched");
        let (tx, rx) = watch::channel(None);
        let cg = Arc::clone(&cgroup);
        let oom_at_exit = Arc::new(AtomicU64::new(0));
        let oom = Arc::clone(&oom_at_exit);
        inner.live.fetch_add(1, Ordering::SeqCst);
        let tracker = Arc::clone(inner);
        tokio::spawn(async move {
            let status = child.wait().await;
            // Reading and removing cgroup files is file work: off the event loop.
            let _ = tokio::task::spawn_blocking(move || {
                oom.store(cg.oom_kills(), Ordering::SeqCst);
                let _ = tx.send(Some(describe_exit(status)));
                // The pid namespace is gone with its init; the cgroup empties a moment later.
                for _ in 0..200 {
                    if cg.is_empty() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                if let Err(e) = cg.remove() {
                    tracing::warn!(error = %e, "could not remove an environment's cgroup");
                }
                // Its processes are gone: the uid may serve another environment.
                if let Some(uid) = uid {
                    tracker.uids.release(uid);
                }
                // The last environment of a server that is stopping takes its scope along.
                if tracker.live.fetch_sub(1, Ordering::SeqCst) == 1
                    && tracker.closing.load(Ordering::SeqCst)
                {
                    tracker.cgroups.remove_scope();
                }
            })
            .await;
        });
        Ok(Launched {
            endpoint: RuntimeEndpoint::Tcp(listener),
            api: spec.wants_endpoint().then_some(api_listener),
            output,
            process: Box::new(SandboxProcess {
                init,
                cpu: inner.cpu,
                launcher: Arc::downgrade(&self.inner),
                ephemeral_mb: spec.ephemeral_mb,
                oom_at_exit,
                peak: AtomicU64::new(0),
                cgroup,
                counters,
                _scratch: scratch,
                _lease: lease,
                _sources: sources,
            }),
            exited: rx,
        })
    }

    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn layout(&self, _code_dir: &Path, _runtime_dir: &Path, sdk_dir: Option<&Path>) -> Layout {
        Layout {
            sdk_dir: sdk_dir.and(sandbox_layout().sdk_dir),
            ..sandbox_layout()
        }
    }

    fn cleaning(&self) -> usize {
        self.inner.live.load(Ordering::SeqCst)
    }

    fn prepare(&self, code_dir: &Path) {
        if let Err(e) = self.inner.images.get(code_dir) {
            tracing::warn!(package = %code_dir.display(), error = %e, "could not make a package's read-only image ahead of its first cold start");
        }
    }

    fn forget(&self, code_dir: &Path) {
        self.inner.images.forget(code_dir);
    }

    /// Makes the read-only images of the runtime and SDK trees on a thread of their own, so
    /// that no cold start waits for the copy (one that comes first waits for its tree only).
    fn preload(&self, trees: Vec<PathBuf>) {
        let images = Arc::clone(&self.inner.images);
        let spawned = std::thread::Builder::new()
            .name("nimbus-images".into())
            .spawn(move || images.preload(&trees));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start making read-only images ahead of need");
        }
    }

    fn standby(&self) -> usize {
        self.inner
            .standby
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Ends the standby helpers and removes their cgroups.
    fn shutdown(&self) {
        self.inner.closing.store(true, Ordering::SeqCst);
        // A refill under way finishes the helper it is starting; then none starts.
        for _ in 0..200 {
            if !self.inner.refilling.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let standby: Vec<Standby> = std::mem::take(
            &mut *self
                .inner
                .standby
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for mut s in standby {
            let _ = s.child.start_kill();
            for _ in 0..100 {
                if matches!(s.child.try_wait(), Ok(Some(_))) && s.cgroup.is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            if let Err(e) = s.cgroup.remove() {
                tracing::warn!(error = %e, "could not remove a standby helper's cgroup");
            }
        }
        if self.inner.live.load(Ordering::SeqCst) == 0 {
            self.inner.cgroups.remove_scope();
        }
        // The bridge and the firewall go with the server (sandboxes still ending lose egress).
        if let Some(net) = &self.inner.egress {
            net.teardown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_storage_is_admitted_against_free_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = ScratchPool {
            // Not made yet, as at a server's first start.
            dir: dir.path().join("scratch"),
            committed_mb: AtomicU64::new(0),
            overcommit: 1.0,
            refilling: std::sync::atomic::AtomicBool::new(false),
            ready: std::sync::Mutex::new(std::collections::HashMap::new()),
        };
        let free = nimbus_sandbox::storage::available_mb(dir.path()).expect("statvfs");
        // More than the disk holds: refused before anything is made, and nothing promised.
        let too_big = u32::try_from(free + 1).unwrap_or(u32::MAX);
        let e = pool.create(too_big).expect_err("no space");
        assert!(e.to_string().contains("no disk space"), "{e}");
        assert_eq!(pool.committed_mb.load(Ordering::SeqCst), 0);
        assert_eq!(std::fs::read_dir(&pool.dir).expect("dir").count(), 0);
        // What others were promised counts: with all of the disk promised, even 1 MB is refused.
        pool.committed_mb.store(free, Ordering::SeqCst);
        assert!(pool.create(1).is_err());
        assert_eq!(pool.committed_mb.load(Ordering::SeqCst), free);
        // An operator's overcommit of 4: the same promises count a quarter; a small image fits.
        let pool = ScratchPool {
            overcommit: 4.0,
            committed_mb: AtomicU64::new(free),
            ..pool
        };
        let s = pool.create(1).expect("admitted under overcommit");
        assert_eq!(pool.committed_mb.load(Ordering::SeqCst), free + 1);
        drop(s);
    }

    #[test]
    fn uids_are_unique_among_live_environments_and_never_wrap() {
        let pool = UidPool::new(5_000_000, 3);
        let a = pool.take().expect("1");
        let b = pool.take().expect("2");
        let c = pool.take().expect("3");
        let mut all = [a, b, c];
        all.sort_unstable();
        assert_eq!(all, [5_000_000, 5_000_001, 5_000_002]);
        assert_eq!(
            pool.take(),
            None,
            "the range is used up: no reuse of a live uid"
        );
        pool.release(b);
        assert_eq!(pool.take(), Some(b));
    }

    #[test]
    fn the_uid_range_stays_clear_of_subordinate_ids() {
        let subuid = [("/etc/subuid", "alice:100000:65536\nbob:165536:65536\n")];
        assert!(check_uid_range(DEFAULT_UID_BASE, DEFAULT_UID_COUNT, &subuid).is_ok());
        let e = check_uid_range(100_000, 100_000, &subuid).expect_err("overlap");
        assert!(e.contains("alice"), "{e}");
        assert!(
            check_uid_range(200_000, 1000, &subuid).is_err(),
            "bob's range"
        );
        assert!(
            check_uid_range(231_072, 1000, &subuid).is_ok(),
            "just after bob's"
        );
        assert!(
            check_uid_range(u32::MAX - 10, 100, &[]).is_err(),
            "no wrap past the top"
        );
        assert!(
            check_uid_range(0, 100, &[]).is_err(),
            "not the system's uids"
        );
    }

    #[test]
    fn runtime_files_of_a_prepared_root() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join("usr/bin")).expect("mkdir");
        std::fs::create_dir_all(root.path().join("lib64")).expect("mkdir");
        std::os::unix::fs::symlink("usr/bin", root.path().join("bin")).expect("link");
        let (binds, links) = runtime_files(root.path());
        assert_eq!(
            binds,
            vec![
                Bind {
                    source: root.path().join("usr"),
                    target: PathBuf::from("/usr")
                },
                Bind {
                    source: root.path().join("lib64"),
                    target: PathBuf::from("/lib64")
                },
            ]
        );
        assert_eq!(
            links,
            vec![(PathBuf::from("/bin"), PathBuf::from("usr/bin"))]
        );
    }
}
