//! cgroups, v2 and v1 both, chosen per controller at start-up: memory (MemorySize, no swap),
//! cpu (proportional to memory), pids. One directory per environment under `nimbus/`, beneath
//! the cgroup the server itself runs in.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::SandboxError;

/// AWS compat: one vCPU per 1,769 MB.
pub const MB_PER_VCPU: u64 = 1769;
/// The CFS period of the `capped` policy (v1 and v2): short, so that a function that used its
/// quota waits at most a few milliseconds, not the default 100 ms period's worth.
pub const CAPPED_PERIOD_US: u64 = 20_000;
/// The smallest quota the kernel accepts.
const MIN_QUOTA_US: u64 = 1_000;

/// How environments share the CPU; each in proportion to its memory (1,769 MB = one CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuPolicy {
    /// Proportional weights: under contention each gets its share, and a CPU nobody else wants
    /// is used in full (work-conserving). No function ever stalls while CPU is free.
    #[default]
    Weighted,
    /// Lambda's hard ceiling: never more than the share, even with the CPU idle.
    Capped,
    /// No CPU control at all.
    None,
}

/// v1 `cpu.shares`: 1,024 is one CPU's worth (the kernel's default for a group).
fn shares_v1(memory_mb: u64) -> u64 {
    (memory_mb * 1024 / MB_PER_VCPU).max(2)
}

/// v2 `cpu.weight` (1..=10,000): 100 is one CPU's worth (the default).
fn weight_v2(memory_mb: u64) -> u64 {
    (memory_mb * 100 / MB_PER_VCPU).clamp(1, 10_000)
}

/// The `capped` quota per [`CAPPED_PERIOD_US`].
fn capped_quota_us(memory_mb: u64) -> u64 {
    (CAPPED_PERIOD_US * memory_mb / MB_PER_VCPU).max(MIN_QUOTA_US)
}

/// The init phase's quota per [`CAPPED_PERIOD_US`]: the function's share, at least one CPU.
fn init_quota_us(memory_mb: u64) -> u64 {
    capped_quota_us(memory_mb).max(CAPPED_PERIOD_US)
}

/// A controller Nimbus uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    /// Memory limit, peak, OOM kills.
    Memory,
    /// CPU quota.
    Cpu,
    /// Process count.
    Pids,
}

impl Controller {
    fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Cpu => "cpu",
            Self::Pids => "pids",
        }
    }
}

/// Where one controller lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// A v1 hierarchy: the directory under which environment cgroups are made.
    V1(PathBuf),
    /// The v2 unified hierarchy: the same.
    V2(PathBuf),
}

/// The hierarchy chosen for each controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupSetup {
    /// Memory.
    pub memory: Hierarchy,
    /// CPU.
    pub cpu: Hierarchy,
    /// Pids.
    pub pids: Hierarchy,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SandboxError + '_ {
    move |source| SandboxError::Cgroup {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads `/proc/self/mountinfo` and `/proc/self/cgroup` and picks, for each controller, v2 if
/// the unified hierarchy has it enabled, else its v1 hierarchy.
pub fn detect() -> Result<CgroupSetup, SandboxError> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .map_err(io_err(Path::new("/proc/self/mountinfo")))?;
    let own =
        fs::read_to_string("/proc/self/cgroup").map_err(io_err(Path::new("/proc/self/cgroup")))?;
    detect_in(&mountinfo, &own, Path::new("/"))
}

/// [`detect`] over given file contents, with paths resolved under `root` (a fake tree in tests).
pub fn detect_in(
    mountinfo: &str,
    own_cgroups: &str,
    root: &Path,
) -> Result<CgroupSetup, SandboxError> {
    let mut v2_mount: Option<PathBuf> = None;
    let mut v1_mounts: Vec<(Vec<String>, PathBuf)> = Vec::new();
    for line in mountinfo.lines() {
        // `id parent major:minor root mountpoint options ... - fstype source superoptions`
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mountpoint = left.split_whitespace().nth(4).unwrap_or("");
        let mut r = right.split_whitespace();
        let fstype = r.next().unwrap_or("");
        let superopts = r.nth(1).unwrap_or("");
        let at = root.join(mountpoint.trim_start_matches('/'));
        match fstype {
            "cgroup2" => v2_mount = Some(at),
            "cgroup" => v1_mounts.push((superopts.split(',').map(str::to_string).collect(), at)),
            _ => {}
        }
    }
    let own_path = |v1_ctrl: Option<&str>| -> String {
        for line in own_cgroups.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let matches = match v1_ctrl {
                None => id == "0" && ctrls.is_empty(),
                Some(c) => ctrls.split(',').any(|x| x == c),
            };
            if matches {
                return path.trim_start_matches('/').to_string();
            }
        }
        String::new()
    };
    let v2_enabled: Vec<String> = v2_mount
        .as_ref()
        .and_then(|m| fs::read_to_string(m.join("cgroup.controllers")).ok())
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let pick = |c: Controller| -> Result<Hierarchy, SandboxError> {
        if let Some(m) = &v2_mount {
            if v2_enabled.iter().any(|x| x == c.name()) {
                return Ok(Hierarchy::V2(m.join(own_path(None)).join("nimbus")));
            }
        }
        for (opts, at) in &v1_mounts {
            if opts.iter().any(|o| o == c.name()) {
                return Ok(Hierarchy::V1(
                    at.join(own_path(Some(c.name()))).join("nimbus"),
                ));
            }
        }
        Err(SandboxError::ControllerMissing(c.name()))
    };
    Ok(CgroupSetup {
        memory: pick(Controller::Memory)?,
        cpu: pick(Controller::Cpu)?,
        pids: pick(Controller::Pids)?,
    })
}

/// Limits of one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Memory, MB; swap is not allowed.
    pub memory_mb: u64,
    /// Most processes and threads.
    pub pids: u64,
}

/// What all of one server's environments may use together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ceiling {
    /// Memory, MiB, no swap.
    pub memory_mib: u64,
    /// Processes and threads.
    pub pids: u64,
}

impl Ceiling {
    /// The default for a host of `total_mib` memory and `threads_max` tasks: everything but a
    /// reserve the server and the host keep, a tenth of each and at least 1 GiB and 4,096 tasks.
    pub fn for_host(total_mib: u64, threads_max: u64) -> Self {
        Self {
            memory_mib: total_mib
                .saturating_sub((total_mib / 10).max(1024))
                .max(256),
            pids: threads_max
                .saturating_sub((threads_max / 10).max(4096))
                .max(1024),
        }
    }

    /// [`Ceiling::for_host`] of this host (`/proc/meminfo`, `/proc/sys/kernel/threads-max`).
    pub fn of_this_host() -> Self {
        let total_mib = fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| {
                let line = t.lines().find(|l| l.starts_with("MemTotal:"))?.to_string();
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .map_or(4096, |kib| kib / 1024);
        let threads_max = fs::read_to_string("/proc/sys/kernel/threads-max")
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(32_768);
        Self::for_host(total_mib, threads_max)
    }
}

/// The cgroup (one directory per controller hierarchy) of one environment.
#[derive(Debug)]
pub struct Cgroup {
    memory: Hierarchy,
    cpu: Hierarchy,
    pids: Hierarchy,
    memory_mb: std::sync::atomic::AtomicU64,
    memory_stat: std::sync::Mutex<Option<fs::File>>,
}

fn write(path: &Path, value: &str) -> Result<(), SandboxError> {
    fs::write(path, value).map_err(io_err(path))
}

fn dir(h: &Hierarchy) -> &Path {
    match h {
        Hierarchy::V1(p) | Hierarchy::V2(p) => p,
    }
}

impl CgroupSetup {
    /// The same hierarchies, one level down at `name`: each server (data directory) keeps its
    /// environments apart from every other server's on the machine.
    pub fn scoped(self, name: &str) -> Self {
        let down = |h: Hierarchy| match h {
            Hierarchy::V1(p) => Hierarchy::V1(p.join(name)),
            Hierarchy::V2(p) => Hierarchy::V2(p.join(name)),
        };
        Self {
            memory: down(self.memory),
            cpu: down(self.cpu),
            pids: down(self.pids),
        }
    }

    /// The environment cgroups left by an earlier run of the server (found under `nimbus/`).
    pub fn leftovers(&self) -> Vec<Cgroup> {
        let mut ids: Vec<String> = Vec::new();
        for h in [&self.memory, &self.cpu, &self.pids] {
            for e in fs::read_dir(dir(h)).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let id = e.file_name().to_string_lossy().to_string();
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
        }
        ids.iter()
            .map(|id| {
                let at = |h: &Hierarchy| match h {
                    Hierarchy::V1(p) => Hierarchy::V1(p.join(id)),
                    Hierarchy::V2(p) => Hierarchy::V2(p.join(id)),
                };
                Cgroup {
                    memory: at(&self.memory),
                    cpu: at(&self.cpu),
                    pids: at(&self.pids),
                    memory_mb: std::sync::atomic::AtomicU64::new(0),
                    memory_stat: std::sync::Mutex::new(None),
                }
            })
            .collect()
    }

    /// Creates the `nimbus` parents (enabling v2 controllers for their children) and puts
    /// `ceiling` on this server's scope: all its environments together.
    pub fn prepare(&self, ceiling: Ceiling) -> Result<(), SandboxError> {
        self.create_parents()?;
        self.set_ceiling(ceiling)
    }

    /// The ceiling on all environments together, on the scope's own directories. The kernel
    /// enforces it within the scope: past the memory ceiling it reclaims or OOM-kills an
    /// environment's process, past the pids ceiling `fork` fails in the sandbox; the server,
    /// outside the scope, keeps its memory and its processes.
    pub fn set_ceiling(&self, ceiling: Ceiling) -> Result<(), SandboxError> {
        let bytes = ceiling.memory_mib.saturating_mul(1024 * 1024).to_string();
        match &self.memory {
            Hierarchy::V1(p) => {
                // A v1 parent limits its children only with hierarchical accounting (the
                // default on current kernels; settable while the scope has no children).
                let hierarchy = p.join("memory.use_hierarchy");
                if fs::read_to_string(&hierarchy).is_ok_and(|v| v.trim() == "0") {
                    write(&hierarchy, "1")?;
                }
                write(&p.join("memory.limit_in_bytes"), &bytes)?;
                let memsw = p.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    write(&memsw, &bytes)?;
                }
            }
            Hierarchy::V2(p) => {
                write(&p.join("memory.max"), &bytes)?;
                let swap = p.join("memory.swap.max");
                if swap.exists() {
                    write(&swap, "0")?;
                }
            }
        }
        match &self.pids {
            Hierarchy::V1(p) | Hierarchy::V2(p) => {
                write(&p.join("pids.max"), &ceiling.pids.to_string())
            }
        }
    }

    fn create_parents(&self) -> Result<(), SandboxError> {
        let mut v2_ctrls: Vec<(&Path, &str)> = Vec::new();
        for (h, c) in [
            (&self.memory, Controller::Memory),
            (&self.cpu, Controller::Cpu),
            (&self.pids, Controller::Pids),
        ] {
            let d = dir(h);
            fs::create_dir_all(d).map_err(io_err(d))?;
            if let Hierarchy::V2(p) = h {
                v2_ctrls.push((p, c.name()));
            }
        }
        for (p, ctrl) in v2_ctrls {
            // Each ancestor up to ours must delegate the controller to the next, and the
            // environments' parent to them. Where an ancestor holds processes the kernel
            // refuses; the error on the last level says so.
            let mut chain: Vec<&Path> = p.ancestors().take(3).collect();
            chain.reverse();
            for dir in &chain[..chain.len() - 1] {
                let _ = fs::write(dir.join("cgroup.subtree_control"), format!("+{ctrl}"));
            }
            write(&p.join("cgroup.subtree_control"), &format!("+{ctrl}"))?;
        }
        Ok(())
    }

    /// Removes this server's (empty) directories, at shutdown; what is not empty stays.
    pub fn remove_scope(&self) {
        for h in [&self.memory, &self.cpu, &self.pids] {
            let _ = fs::remove_dir(dir(h));
        }
    }

    /// Creates the cgroup `id`, without limits yet ([`Cgroup::set_limits`]).
    pub fn create(&self, id: &str) -> Result<Cgroup, SandboxError> {
        let at = |h: &Hierarchy| -> Hierarchy {
            match h {
                Hierarchy::V1(p) => Hierarchy::V1(p.join(id)),
                Hierarchy::V2(p) => Hierarchy::V2(p.join(id)),
            }
        };
        let cg = Cgroup {
            memory: at(&self.memory),
            cpu: at(&self.cpu),
            pids: at(&self.pids),
            memory_mb: std::sync::atomic::AtomicU64::new(0),
            memory_stat: std::sync::Mutex::new(None),
        };
        for h in [&cg.memory, &cg.cpu, &cg.pids] {
            let d = dir(h);
            match fs::create_dir(d) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(d)(e)),
            }
        }
        Ok(cg)
    }
}

impl Cgroup {
    /// Sets memory (MemorySize, no swap) and process limits. The CPU is not limited until
    /// [`Cgroup::limit_cpu`].
    pub fn set_limits(&self, limits: Limits) -> Result<(), SandboxError> {
        self.memory_mb
            .store(limits.memory_mb, std::sync::atomic::Ordering::Relaxed);
        let bytes = limits.memory_mb * 1024 * 1024;
        match &self.memory {
            Hierarchy::V1(p) => {
                write(&p.join("memory.limit_in_bytes"), &bytes.to_string())?;
                // With swap accounting, memory+swap at the same limit means no swap at all.
                let memsw = p.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    write(&memsw, &bytes.to_string())?;
                }
            }
            Hierarchy::V2(p) => {
                write(&p.join("memory.max"), &bytes.to_string())?;
                let swap = p.join("memory.swap.max");
                if swap.exists() {
                    write(&swap, "0")?;
                }
            }
        }
        match &self.pids {
            Hierarchy::V1(p) | Hierarchy::V2(p) => {
                write(&p.join("pids.max"), &limits.pids.to_string())?
            }
        }
        Ok(())
    }

    /// The files a process writes its pid to, to join every hierarchy (each once).
    pub fn procs_files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for h in [&self.memory, &self.cpu, &self.pids] {
            let f = dir(h).join("cgroup.procs");
            if !out.contains(&f) {
                out.push(f);
            }
        }
        out
    }

    /// Applies `policy` to the CPU controller, in proportion to the memory limit
    /// (`memory_mb / 1769` of one CPU).
    pub fn limit_cpu(&self, policy: CpuPolicy) -> Result<(), SandboxError> {
        let memory_mb = self.memory_mb.load(std::sync::atomic::Ordering::Relaxed);
        match policy {
            CpuPolicy::None => {
                self.unlimit_cpu();
                Ok(())
            }
            CpuPolicy::Weighted => {
                self.unlimit_cpu();
                match &self.cpu {
                    Hierarchy::V1(p) => {
                        write(&p.join("cpu.shares"), &shares_v1(memory_mb).to_string())
                    }
                    Hierarchy::V2(p) => {
                        write(&p.join("cpu.weight"), &weight_v2(memory_mb).to_string())
                    }
                }
            }
            CpuPolicy::Capped => {
                let quota = capped_quota_us(memory_mb);
                // A burst of one quota: unused time of one period may be spent in the next, so
                // a short request never waits for the period to end while the average share
                // stays the same. Kernels without burst support (before 5.14) lack the file.
                match &self.cpu {
                    Hierarchy::V1(p) => {
                        write(&p.join("cpu.cfs_period_us"), &CAPPED_PERIOD_US.to_string())?;
                        write(&p.join("cpu.cfs_quota_us"), &quota.to_string())?;
                        let burst = p.join("cpu.cfs_burst_us");
                        if burst.exists() {
                            write(&burst, &quota.to_string())?;
                        }
                        Ok(())
                    }
                    Hierarchy::V2(p) => {
                        write(&p.join("cpu.max"), &format!("{quota} {CAPPED_PERIOD_US}"))?;
                        let burst = p.join("cpu.max.burst");
                        if burst.exists() {
                            write(&burst, &quota.to_string())?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }

    /// The init phase's bound: the function's share of the CPU or one whole CPU, whichever is
    /// more, as a hard quota. An init cannot spin every core of the host however many threads
    /// it starts; [`Cgroup::limit_cpu`] replaces the bound once init is over.
    pub fn limit_init_cpu(&self) -> Result<(), SandboxError> {
        let memory_mb = self.memory_mb.load(std::sync::atomic::Ordering::Relaxed);
        let quota = init_quota_us(memory_mb);
        match &self.cpu {
            Hierarchy::V1(p) => {
                write(&p.join("cpu.cfs_period_us"), &CAPPED_PERIOD_US.to_string())?;
                write(&p.join("cpu.cfs_quota_us"), &quota.to_string())
            }
            Hierarchy::V2(p) => write(&p.join("cpu.max"), &format!("{quota} {CAPPED_PERIOD_US}")),
        }
    }

    /// Lifts the CPU quota (before ending an environment: dying processes need CPU to exit
    /// quickly).
    pub fn unlimit_cpu(&self) {
        let _ = match &self.cpu {
            Hierarchy::V1(p) => fs::write(p.join("cpu.cfs_quota_us"), "-1"),
            Hierarchy::V2(p) => fs::write(p.join("cpu.max"), format!("max {CAPPED_PERIOD_US}")),
        };
    }

    /// Memory the processes use now, bytes, as resident-set size counts it: anonymous, shared
    /// and mapped file memory, not the rest of the page cache (which holds, among others, what
    /// was written to the disk-backed `/tmp`).
    pub fn memory_in_use(&self) -> Option<u64> {
        let (f, keys): (PathBuf, &[&str]) = match &self.memory {
            Hierarchy::V1(p) => (
                p.join("memory.stat"),
                &["total_rss", "total_shmem", "total_mapped_file"],
            ),
            Hierarchy::V2(p) => (p.join("memory.stat"), &["anon", "shmem", "file_mapped"]),
        };
        let stat = self.read_memory_stat(&f)?;
        Some(
            stat.lines()
                .filter_map(|l| l.split_once(' '))
                .filter(|(k, _)| keys.contains(k))
                .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
                .sum(),
        )
    }

    /// `memory.stat`, through a descriptor kept open (it is read after every invocation: one
    /// positioned read instead of an open, a read and a close).
    fn read_memory_stat(&self, path: &Path) -> Option<String> {
        use std::os::unix::fs::FileExt;
        let mut held = self
            .memory_stat
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.is_none() {
            *held = fs::File::open(path).ok();
        }
        let file = held.as_ref()?;
        let mut out = Vec::with_capacity(4096);
        let mut buf = [0u8; 4096];
        loop {
            match file.read_at(&mut buf, out.len() as u64) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => {
                    *held = None;
                    return None;
                }
            }
        }
        String::from_utf8(out).ok()
    }

    /// How many processes the kernel killed for running out of memory.
    pub fn oom_kills(&self) -> u64 {
        let (f, key) = match &self.memory {
            Hierarchy::V1(p) => (p.join("memory.oom_control"), "oom_kill"),
            Hierarchy::V2(p) => (p.join("memory.events"), "oom_kill"),
        };
        fs::read_to_string(f)
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    let mut it = l.split_whitespace();
                    (it.next() == Some(key))
                        .then(|| it.next().and_then(|v| v.parse().ok()))
                        .flatten()
                })
            })
            .unwrap_or(0)
    }

    /// Whether any process is left in it.
    pub fn is_empty(&self) -> bool {
        self.procs_files().iter().all(|f| {
            fs::read_to_string(f)
                .map(|s| s.trim().is_empty())
                .unwrap_or(true)
        })
    }

    /// SIGKILL to every process in it (for leftovers of an earlier run).
    pub fn kill_all(&self) {
        for f in self.procs_files() {
            for pid in fs::read_to_string(&f).unwrap_or_default().lines() {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    let _ = crate::sys::kill(pid, libc::SIGKILL);
                }
            }
        }
    }

    /// Removes the directories (they must be empty of processes).
    pub fn remove(&self) -> Result<(), SandboxError> {
        let mut seen: Vec<&Path> = Vec::new();
        for h in [&self.memory, &self.cpu, &self.pids] {
            let d = dir(h);
            if seen.contains(&d) {
                continue;
            }
            seen.push(d);
            match fs::remove_dir(d) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(d)(e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO_V1: &str = "\
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 30 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
35 30 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const OWN_V1: &str = "8:pids:/\n4:memory:/svc/abc\n1:cpu:/\n0::/\n";

    #[test]
    fn v1_per_controller_below_our_own_cgroup() {
        let tree = tempfile::tempdir().expect("tempdir");
        // The unified hierarchy exists but has no controllers: v1 is chosen for all three.
        let unified = tree.path().join("sys/fs/cgroup/unified");
        fs::create_dir_all(&unified).expect("mkdir");
        fs::write(unified.join("cgroup.controllers"), "").expect("write");
        let s = detect_in(MOUNTINFO_V1, OWN_V1, tree.path()).expect("detect");
        assert_eq!(
            s.memory,
            Hierarchy::V1(tree.path().join("sys/fs/cgroup/memory/svc/abc/nimbus"))
        );
        assert_eq!(
            s.cpu,
            Hierarchy::V1(tree.path().join("sys/fs/cgroup/cpu/nimbus"))
        );
        assert_eq!(
            s.pids,
            Hierarchy::V1(tree.path().join("sys/fs/cgroup/pids/nimbus"))
        );
    }

    #[test]
    fn v2_fake_tree_limits_and_readings() {
        let tree = tempfile::tempdir().expect("tempdir");
        let root = tree.path().join("sys/fs/cgroup");
        fs::create_dir_all(root.join("server.slice")).expect("mkdir");
        fs::write(root.join("cgroup.controllers"), "cpuset cpu io memory pids").expect("write");
        let mountinfo = "25 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let s = detect_in(mountinfo, "0::/server.slice\n", tree.path()).expect("detect");
        let base = root.join("server.slice/nimbus");
        assert_eq!(s.memory, Hierarchy::V2(base.clone()));
        assert_eq!(s.pids, Hierarchy::V2(base.clone()));
        s.prepare(Ceiling {
            memory_mib: 20_000,
            pids: 150_000,
        })
        .expect("prepare");
        assert_eq!(
            fs::read_to_string(base.join("cgroup.subtree_control")).expect("read"),
            "+pids"
        );
        // The ceiling on the scope, over all environments together.
        assert_eq!(
            fs::read_to_string(base.join("memory.max")).expect("read"),
            (20_000u64 << 20).to_string()
        );
        assert_eq!(
            fs::read_to_string(base.join("pids.max")).expect("read"),
            "150000"
        );
        // A fake kernel: the interface files exist before they are written.
        let env = base.join("env1");
        fs::create_dir_all(&env).expect("mkdir");
        fs::write(env.join("memory.swap.max"), "max").expect("write");
        let cg = s.create("env1").expect("create");
        cg.set_limits(Limits {
            memory_mb: 128,
            pids: 1024,
        })
        .expect("limits");
        assert_eq!(
            fs::read_to_string(env.join("memory.max")).expect("read"),
            "134217728"
        );
        assert_eq!(
            fs::read_to_string(env.join("memory.swap.max")).expect("read"),
            "0"
        );
        assert_eq!(
            fs::read_to_string(env.join("pids.max")).expect("read"),
            "1024"
        );
        // Init: a hard bound of one CPU, or the function's share when that is more.
        cg.limit_init_cpu().expect("init cpu");
        assert_eq!(
            fs::read_to_string(env.join("cpu.max")).expect("read"),
            "20000 20000"
        );
        fs::write(env.join("cpu.max.burst"), "0").expect("write");
        cg.limit_cpu(CpuPolicy::Capped).expect("cpu");
        assert_eq!(
            fs::read_to_string(env.join("cpu.max")).expect("read"),
            "1447 20000"
        );
        assert_eq!(
            fs::read_to_string(env.join("cpu.max.burst")).expect("read"),
            "1447"
        );
        cg.limit_cpu(CpuPolicy::Weighted).expect("cpu");
        assert_eq!(
            fs::read_to_string(env.join("cpu.max")).expect("read"),
            "max 20000",
            "weighted: no ceiling"
        );
        assert_eq!(
            fs::read_to_string(env.join("cpu.weight")).expect("read"),
            "7"
        );
        assert_eq!(cg.procs_files(), vec![env.join("cgroup.procs")]);
        fs::write(
            env.join("memory.stat"),
            "anon 41943040\nfile 900000000\nfile_mapped 4194304\nshmem 10485760\n",
        )
        .expect("write");
        fs::write(
            env.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .expect("write");
        assert_eq!(
            cg.memory_in_use(),
            Some(56_623_104),
            "unmapped page cache is not counted"
        );
        assert_eq!(cg.oom_kills(), 1);
    }

    #[test]
    fn the_ceiling_leaves_the_host_a_reserve() {
        // 24 GiB, Debian's threads-max for it: 2.4 GiB and 19,000 tasks kept back.
        let c = Ceiling::for_host(24_000, 190_000);
        assert_eq!((c.memory_mib, c.pids), (21_600, 171_000));
        // A small host keeps at least 1 GiB and 4,096 tasks.
        let c = Ceiling::for_host(2_048, 15_000);
        assert_eq!((c.memory_mib, c.pids), (1_024, 10_904));
        assert_eq!(init_quota_us(128), 20_000);
        assert_eq!(init_quota_us(3_538), 40_000, "two CPUs' share");
    }

    #[test]
    fn cpu_figures_follow_memory() {
        assert_eq!(shares_v1(1769), 1024);
        assert_eq!(shares_v1(128), 74);
        assert_eq!(shares_v1(1), 2, "the kernel's minimum");
        assert_eq!(weight_v2(1769), 100);
        assert_eq!(weight_v2(10_240), 578);
        assert_eq!(weight_v2(128), 7);
        assert_eq!(capped_quota_us(1769), CAPPED_PERIOD_US);
        assert_eq!(capped_quota_us(10_240), 115_771, "more than one CPU");
        assert_eq!(capped_quota_us(64), MIN_QUOTA_US);
    }

    #[test]
    fn missing_controller_is_named() {
        let tree = tempfile::tempdir().expect("tempdir");
        let e = detect_in("", "", tree.path()).expect_err("nothing mounted");
        assert!(e.to_string().contains("memory"));
    }
}
