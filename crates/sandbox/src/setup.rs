//! The setup sequences of a sandbox, over a [`Sys`] seam: [`LinuxSys`] makes the calls,
//! tests record them with a fake and check their order and arguments without root.

use std::io;
use std::path::{Path, PathBuf};

use crate::seccomp::CompiledPolicy;
use crate::spec::SandboxSpec;
use crate::sys;

pub(crate) type Step<T> = Result<T, String>;

pub(crate) fn step<T>(what: &str, r: io::Result<T>) -> Step<T> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// What the setup sequences do to the system.
pub(crate) trait Sys {
    fn mount(
        &self,
        src: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> io::Result<()>;
    fn umount2(&self, target: &Path, flags: libc::c_int) -> io::Result<()>;
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()>;
    fn mkdir_all(&self, p: &Path) -> io::Result<()>;
    fn write(&self, p: &Path, data: &[u8]) -> io::Result<()>;
    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()>;
    fn chmod(&self, p: &Path, mode: u32) -> io::Result<()>;
    fn chdir(&self, p: &Path) -> io::Result<()>;
    fn is_dir(&self, p: &Path) -> bool;
    fn exists(&self, p: &Path) -> bool;
    /// Read-only (and nosuid, nodev) for the mount at `target` and every mount below it.
    fn read_only_recursive(&self, target: &Path) -> io::Result<()>;
    fn sethostname(&self, name: &str) -> io::Result<()>;
    fn setrlimit(&self, resource: libc::__rlimit_resource_t, limit: u64) -> io::Result<()>;
    fn drop_bounding_set(&self) -> io::Result<()>;
    fn become_user(&self, uid: u32, gid: u32) -> io::Result<()>;
    fn no_new_privs(&self) -> io::Result<()>;
    fn apply_seccomp(&self, policy: &CompiledPolicy) -> io::Result<()>;
}

/// The real system.
pub(crate) struct LinuxSys;

impl Sys for LinuxSys {
    fn mount(
        &self,
        src: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> io::Result<()> {
        sys::mount(src, target, fstype, flags, data)
    }
    fn umount2(&self, target: &Path, flags: libc::c_int) -> io::Result<()> {
        sys::umount2(target, flags)
    }
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        sys::pivot_root(new_root, put_old)
    }
    fn mkdir_all(&self, p: &Path) -> io::Result<()> {
        std::fs::create_dir_all(p)
    }
    fn write(&self, p: &Path, data: &[u8]) -> io::Result<()> {
        std::fs::write(p, data)
    }
    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }
    fn chmod(&self, p: &Path, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
    }
    fn chdir(&self, p: &Path) -> io::Result<()> {
        std::env::set_current_dir(p)
    }
    fn is_dir(&self, p: &Path) -> bool {
        p.is_dir()
    }
    fn exists(&self, p: &Path) -> bool {
        p.exists()
    }
    fn read_only_recursive(&self, target: &Path) -> io::Result<()> {
        match sys::mount_setattr_read_only_recursive(target) {
            // Before Linux 5.12: the top-level remount (done already) is all there is.
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => Ok(()),
            r => r,
        }
    }
    fn sethostname(&self, name: &str) -> io::Result<()> {
        sys::sethostname(name)
    }
    fn setrlimit(&self, resource: libc::__rlimit_resource_t, limit: u64) -> io::Result<()> {
        sys::setrlimit(resource, limit)
    }
    fn drop_bounding_set(&self) -> io::Result<()> {
        sys::drop_bounding_set()
    }
    fn become_user(&self, uid: u32, gid: u32) -> io::Result<()> {
        sys::become_user(uid, gid)
    }
    fn no_new_privs(&self) -> io::Result<()> {
        sys::no_new_privs()
    }
    fn apply_seccomp(&self, policy: &CompiledPolicy) -> io::Result<()> {
        policy.apply().map_err(|e| io::Error::other(e.to_string()))
    }
}

/// Limits, then every privilege dropped, last the seccomp policy (the runtime, not this
/// setup, is what it filters). Runs in the runtime's process just before it is executed.
pub(crate) fn drop_privileges(
    s: &dyn Sys,
    spec: &SandboxSpec,
    policy: Option<&CompiledPolicy>,
) -> Step<()> {
    step(
        "limit open files",
        s.setrlimit(libc::RLIMIT_NOFILE, spec.nofile),
    )?;
    step(
        "limit processes",
        s.setrlimit(libc::RLIMIT_NPROC, spec.nproc),
    )?;
    step("chdir", s.chdir(&spec.cwd))?;
    // The bounding set needs CAP_SETPCAP, so it goes before the switch to an unprivileged user.
    step("drop the capability bounding set", s.drop_bounding_set())?;
    step("become the sandbox user", s.become_user(spec.uid, spec.gid))?;
    step("no_new_privs", s.no_new_privs())?;
    if let Some(p) = policy {
        step("seccomp", s.apply_seccomp(p))?;
    }
    Ok(())
}

fn inside(root: &Path, p: &Path) -> PathBuf {
    root.join(p.strip_prefix("/").unwrap_or(p))
}

fn mkdir(s: &dyn Sys, p: &Path) -> Step<()> {
    step(&format!("mkdir {}", p.display()), s.mkdir_all(p))
}

fn mount(
    s: &dyn Sys,
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Step<()> {
    step(
        &format!("mount {}", target.display()),
        s.mount(src, target, fstype, flags, data),
    )
}

/// A read-only, nosuid, nodev bind of `source` at `target`.
fn bind_ro(s: &dyn Sys, source: &Path, target: &Path) -> Step<()> {
    if s.is_dir(source) {
        mkdir(s, target)?;
    } else {
        if let Some(parent) = target.parent() {
            mkdir(s, parent)?;
        }
        step(
            &format!("create {}", target.display()),
            s.write(target, b""),
        )?;
    }
    mount(
        s,
        Some(source),
        target,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )?;
    mount(
        s,
        None,
        target,
        None,
        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
        None,
    )?;
    // The remount covers the top mount only; whatever is mounted below the source (a
    // submount of the host's /usr, say) must turn read-only too.
    step(
        &format!("read-only {}", target.display()),
        s.read_only_recursive(target),
    )
}

/// AWS compat and hardening, as runc and crun do it: parts of /proc that show the host's
/// kernel or let a process poke at it are covered (files by /dev/null, directories by an
/// empty read-only tmpfs), and the writable kernel interfaces are made read-only.
const PROC_MASKED_FILES: &[&str] = &[
    "kcore",
    "keys",
    "latency_stats",
    "timer_list",
    "timer_stats",
    "sched_debug",
    "kallsyms",
    "kmsg",
];
const PROC_MASKED_DIRS: &[&str] = &["acpi", "asound", "scsi", "driver"];
const PROC_READ_ONLY: &[&str] = &["bus", "fs", "irq", "sys", "sysrq-trigger"];

fn mask_proc(s: &dyn Sys, proc_dir: &Path) -> Step<()> {
    for f in PROC_MASKED_FILES {
        let p = proc_dir.join(f);
        if s.exists(&p) {
            mount(
                s,
                Some(Path::new("/dev/null")),
                &p,
                None,
                libc::MS_BIND,
                None,
            )?;
        }
    }
    for d in PROC_MASKED_DIRS {
        let p = proc_dir.join(d);
        if s.is_dir(&p) {
            mount(
                s,
                Some(Path::new("tmpfs")),
                &p,
                Some("tmpfs"),
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                Some("size=4k,mode=0555"),
            )?;
        }
    }
    for d in PROC_READ_ONLY {
        let p = proc_dir.join(d);
        if s.exists(&p) {
            mount(s, Some(&p), &p, None, libc::MS_BIND | libc::MS_REC, None)?;
            mount(
                s,
                None,
                &p,
                None,
                libc::MS_BIND
                    | libc::MS_REMOUNT
                    | libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV
                    | libc::MS_NOEXEC,
                None,
            )?;
        }
    }
    Ok(())
}

/// Mounts the sandbox's root and pivots into it (PID 1, in its new mount namespace).
pub(crate) fn build_root(s: &dyn Sys, spec: &SandboxSpec) -> Step<()> {
    let root = &spec.root_mountpoint;
    mount(
        s,
        None,
        Path::new("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    )?;
    mount(
        s,
        Some(Path::new("tmpfs")),
        root,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("size=4m,mode=0755"),
    )?;
    for b in &spec.binds {
        bind_ro(s, &b.source, &inside(root, &b.target))?;
    }
    for (link, target) in &spec.symlinks {
        step(
            &format!("symlink {}", link.display()),
            s.symlink(target, &inside(root, link)),
        )?;
    }
    // /etc, generated.
    let etc = root.join("etc");
    mkdir(s, &etc)?;
    for (name, text) in &spec.etc {
        step(
            &format!("write /etc/{name}"),
            s.write(&etc.join(name), text.as_bytes()),
        )?;
    }
    mkdir(s, &root.join("opt"))?;
    // /proc of the new pid namespace.
    let proc_dir = root.join("proc");
    mkdir(s, &proc_dir)?;
    mount(
        s,
        Some(Path::new("proc")),
        &proc_dir,
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    )?;
    mask_proc(s, &proc_dir)?;
    // A minimal /dev.
    let dev = root.join("dev");
    mkdir(s, &dev)?;
    mount(
        s,
        Some(Path::new("tmpfs")),
        &dev,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("size=64k,mode=0755"),
    )?;
    for node in ["null", "zero", "full", "random", "urandom"] {
        let target = dev.join(node);
        step(&format!("create /dev/{node}"), s.write(&target, b""))?;
        mount(
            s,
            Some(&Path::new("/dev").join(node)),
            &target,
            None,
            libc::MS_BIND,
            None,
        )?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        step(
            &format!("symlink /dev/{link}"),
            s.symlink(Path::new(target), &dev.join(link)),
        )?;
    }
    mount(
        s,
        None,
        &dev,
        None,
        libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("size=64k,mode=0755"),
    )?;
    // The private /tmp.
    let tmp = root.join("tmp");
    mkdir(s, &tmp)?;
    mount(
        s,
        Some(&spec.tmp_source),
        &tmp,
        None,
        libc::MS_BIND | libc::MS_NOSUID | libc::MS_NODEV,
        None,
    )?;
    step("chmod /tmp", s.chmod(&tmp, 0o1777))?;
    // Into the new root; the old one is detached.
    step("chdir root", s.chdir(root))?;
    step("pivot_root", s.pivot_root(Path::new("."), Path::new(".")))?;
    step(
        "detach the old root",
        s.umount2(Path::new("."), libc::MNT_DETACH),
    )?;
    step("chdir /", s.chdir(Path::new("/")))?;
    mount(
        s,
        None,
        Path::new("/"),
        None,
        libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
        Some("size=4m,mode=0755"),
    )?;
    step("sethostname", s.sethostname(&spec.hostname))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::spec::Bind;

    /// Records every call instead of making it.
    #[derive(Default)]
    struct FakeSys {
        calls: RefCell<Vec<String>>,
    }

    impl FakeSys {
        fn log(&self, s: String) -> io::Result<()> {
            self.calls.borrow_mut().push(s);
            Ok(())
        }
        fn calls(&self) -> Vec<String> {
            self.calls.borrow().clone()
        }
        fn index(&self, prefix: &str) -> usize {
            self.calls()
                .iter()
                .position(|c| c.starts_with(prefix))
                .unwrap_or_else(|| panic!("no call starting {prefix:?} in {:#?}", self.calls()))
        }
    }

    fn flags(f: libc::c_ulong) -> String {
        let mut names = Vec::new();
        for (bit, name) in [
            (libc::MS_BIND, "bind"),
            (libc::MS_REC, "rec"),
            (libc::MS_REMOUNT, "remount"),
            (libc::MS_RDONLY, "ro"),
            (libc::MS_NOSUID, "nosuid"),
            (libc::MS_NODEV, "nodev"),
            (libc::MS_NOEXEC, "noexec"),
            (libc::MS_PRIVATE, "private"),
        ] {
            if f & bit != 0 {
                names.push(name);
            }
        }
        names.join(",")
    }

    impl Sys for FakeSys {
        fn mount(
            &self,
            src: Option<&Path>,
            target: &Path,
            fstype: Option<&str>,
            f: libc::c_ulong,
            _data: Option<&str>,
        ) -> io::Result<()> {
            self.log(format!(
                "mount {} {} {} [{}]",
                src.map_or("-".into(), |p| p.display().to_string()),
                target.display(),
                fstype.unwrap_or("-"),
                flags(f)
            ))
        }
        fn umount2(&self, target: &Path, _flags: libc::c_int) -> io::Result<()> {
            self.log(format!("umount {}", target.display()))
        }
        fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()> {
            self.log(format!(
                "pivot_root {} {}",
                new_root.display(),
                put_old.display()
            ))
        }
        fn mkdir_all(&self, p: &Path) -> io::Result<()> {
            self.log(format!("mkdir {}", p.display()))
        }
        fn write(&self, p: &Path, _data: &[u8]) -> io::Result<()> {
            self.log(format!("write {}", p.display()))
        }
        fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
            self.log(format!(
                "symlink {} -> {}",
                link.display(),
                target.display()
            ))
        }
        fn chmod(&self, p: &Path, mode: u32) -> io::Result<()> {
            self.log(format!("chmod {} {mode:o}", p.display()))
        }
        fn chdir(&self, p: &Path) -> io::Result<()> {
            self.log(format!("chdir {}", p.display()))
        }
        fn is_dir(&self, p: &Path) -> bool {
            !p.ends_with("ld.so.cache")
        }
        fn exists(&self, _p: &Path) -> bool {
            true
        }
        fn read_only_recursive(&self, target: &Path) -> io::Result<()> {
            self.log(format!("read_only_recursive {}", target.display()))
        }
        fn sethostname(&self, name: &str) -> io::Result<()> {
            self.log(format!("sethostname {name}"))
        }
        fn setrlimit(&self, resource: libc::__rlimit_resource_t, limit: u64) -> io::Result<()> {
            self.log(format!("setrlimit {resource} {limit}"))
        }
        fn drop_bounding_set(&self) -> io::Result<()> {
            self.log("drop_bounding_set".into())
        }
        fn become_user(&self, uid: u32, gid: u32) -> io::Result<()> {
            self.log(format!("become_user {uid} {gid}"))
        }
        fn no_new_privs(&self) -> io::Result<()> {
            self.log("no_new_privs".into())
        }
        fn apply_seccomp(&self, _policy: &CompiledPolicy) -> io::Result<()> {
            self.log("seccomp".into())
        }
    }

    fn spec() -> SandboxSpec {
        SandboxSpec {
            root_mountpoint: PathBuf::from("/srv/root"),
            binds: vec![
                Bind {
                    source: "/usr".into(),
                    target: "/usr".into(),
                },
                Bind {
                    source: "/data/pkgs/abc".into(),
                    target: "/var/task".into(),
                },
                Bind {
                    source: "/etc/ld.so.cache".into(),
                    target: "/etc/ld.so.cache".into(),
                },
            ],
            symlinks: vec![(PathBuf::from("/bin"), PathBuf::from("usr/bin"))],
            etc: vec![("passwd".into(), "x".into())],
            tmp_source: "/data/scratch/1".into(),
            hostname: "nimbus".into(),
            uid: 100_001,
            gid: 100_001,
            nofile: 1024,
            nproc: 1024,
            argv: vec!["/usr/bin/python3".into()],
            env: vec![],
            cwd: "/var/task".into(),
            seccomp: true,
        }
    }

    #[test]
    fn root_is_private_read_only_and_pivoted_last() {
        let s = FakeSys::default();
        build_root(&s, &spec()).expect("setup");
        let calls = s.calls();
        // Nothing propagates back to the host, and the root is a fresh tmpfs.
        assert_eq!(calls[0], "mount - / - [rec,private]");
        assert!(
            calls[1].starts_with("mount tmpfs /srv/root tmpfs [nosuid,nodev]"),
            "{}",
            calls[1]
        );
        // Every bind is followed by its read-only remount.
        for target in [
            "/srv/root/usr",
            "/srv/root/var/task",
            "/srv/root/etc/ld.so.cache",
        ] {
            let i = calls
                .iter()
                .position(|c| c.contains(&format!(" {target} - [bind,rec]")))
                .expect("bind");
            assert_eq!(
                calls[i + 1],
                format!("mount - {target} - [bind,remount,ro,nosuid,nodev]"),
                "{calls:#?}"
            );
            assert_eq!(
                calls[i + 2],
                format!("read_only_recursive {target}"),
                "and below it, recursively"
            );
        }
        // A file bind gets a file to cover, not a directory.
        assert!(calls.contains(&"write /srv/root/etc/ld.so.cache".to_string()));
        assert!(calls.contains(&"symlink /srv/root/bin -> usr/bin".to_string()));
        assert!(calls.contains(&"mount proc /srv/root/proc proc [nosuid,nodev,noexec]".to_string()));
        assert!(calls
            .contains(&"mount /data/scratch/1 /srv/root/tmp - [bind,nosuid,nodev]".to_string()));
        assert!(calls.contains(&"chmod /srv/root/tmp 1777".to_string()));
        // /proc masked once mounted: kernel memory, keys, sysrq; /proc/sys read-only.
        let proc_mounted = s.index("mount proc /srv/root/proc proc");
        assert!(s.index("mount /dev/null /srv/root/proc/kcore - [bind]") > proc_mounted);
        assert!(calls.contains(
            &"mount - /srv/root/proc/sysrq-trigger - [bind,remount,ro,nosuid,nodev,noexec]"
                .to_string()
        ));
        assert!(calls.contains(
            &"mount tmpfs /srv/root/proc/acpi tmpfs [ro,nosuid,nodev,noexec]".to_string()
        ));
        let sys_bind = s.index("mount /srv/root/proc/sys /srv/root/proc/sys - [bind,rec]");
        assert_eq!(
            calls[sys_bind + 1],
            "mount - /srv/root/proc/sys - [bind,remount,ro,nosuid,nodev,noexec]"
        );
        // /dev is read-only once its nodes are bound.
        let dev_ro = s.index("mount - /srv/root/dev - [remount,ro,nosuid,noexec]");
        assert!(s.index("mount /dev/urandom") < dev_ro);
        // Pivot after every mount, detach the old root, then the new root turns read-only.
        let pivot = s.index("pivot_root . .");
        assert!(
            calls[..pivot]
                .iter()
                .filter(|c| c.starts_with("mount"))
                .count()
                >= 12
        );
        assert_eq!(calls[pivot + 1], "umount .");
        assert_eq!(calls[pivot + 2], "chdir /");
        assert_eq!(calls[pivot + 3], "mount - / - [remount,ro,nosuid,nodev]");
        assert_eq!(calls.last().map(String::as_str), Some("sethostname nimbus"));
    }

    #[test]
    fn privileges_go_in_the_safe_order() {
        let s = FakeSys::default();
        let policy = crate::seccomp::compile().expect("policy");
        drop_privileges(&s, &spec(), Some(&policy)).expect("drop");
        assert_eq!(
            s.calls(),
            [
                format!("setrlimit {} 1024", libc::RLIMIT_NOFILE),
                format!("setrlimit {} 1024", libc::RLIMIT_NPROC),
                "chdir /var/task".to_string(),
                "drop_bounding_set".to_string(),
                "become_user 100001 100001".to_string(),
                "no_new_privs".to_string(),
                "seccomp".to_string(),
            ]
        );
    }
}
