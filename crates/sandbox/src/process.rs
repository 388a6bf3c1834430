//! Processes of environments, signalled safely: a [`Pidfd`] refers to one process for as long as
//! it is held, so a signal reaches that process or nobody, never one that was given its number
//! later. Process groups: the `process` launcher starts a runtime as the leader of a new group,
//! so that everything it starts can be ended with one signal.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::process::{kill_process_group, Pid, Signal};

/// Sends SIGKILL to every process in the group `pgid` (the group leader's pid).
/// A group that no longer exists is not an error.
pub fn kill_group(pgid: u32) -> io::Result<()> {
    let pid = i32::try_from(pgid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a process group id"))?;
    match kill_process_group(pid, Signal::KILL) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::SRCH => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A process, by descriptor rather than by number.
#[derive(Debug)]
pub struct Pidfd {
    fd: OwnedFd,
    pid: u32,
}

fn raw_pid(pid: u32) -> io::Result<libc::pid_t> {
    libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a pid"))
}

/// The parent pid of `pid`, from `/proc/<pid>/stat`.
fn parent_of(pid: u32) -> io::Result<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // `pid (comm) state ppid ...`: the command may hold spaces and parentheses.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::other(format!("unreadable /proc/{pid}/stat")))
}

impl Pidfd {
    /// Refers to process `pid`. Only sound for a process that cannot have been reaped yet: a
    /// child of the caller that nobody has waited for (else use [`Pidfd::open_child_of`]).
    pub fn open(pid: u32) -> io::Result<Self> {
        let fd = crate::sys::pidfd_open(raw_pid(pid)?)?;
        Ok(Self { fd, pid })
    }

    /// Refers to process `pid`, checked to be a child of `parent` (which must itself be a
    /// process the caller holds, unreaped): the check is made after the descriptor is opened
    /// and confirmed while the process is still alive, so the descriptor cannot refer to a
    /// process that merely got the number.
    pub fn open_child_of(pid: u32, parent: u32) -> io::Result<Self> {
        let me = Self::open(pid)?;
        let ppid = parent_of(pid);
        // Alive now means alive since the open: /proc/<pid> was this very process.
        if !me.is_alive() {
            return Err(io::Error::other(format!(
                "process {pid} ended before it was checked"
            )));
        }
        match ppid {
            Ok(p) if p == parent => Ok(me),
            Ok(p) => Err(io::Error::other(format!(
                "process {pid} is a child of {p}, not of {parent}"
            ))),
            Err(e) => Err(e),
        }
    }

    /// The process's number (for logs: never signal it by number).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the process has not been reaped yet (a zombie still counts).
    pub fn is_alive(&self) -> bool {
        crate::sys::pidfd_send_signal(self.fd.as_raw_fd(), 0).is_ok()
    }

    /// SIGKILL to this process. One that is gone already is not an error.
    pub fn kill(&self) -> io::Result<()> {
        match crate::sys::pidfd_send_signal(self.fd.as_raw_fd(), libc::SIGKILL) {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            r => r,
        }
    }
}

/// A [`Pidfd`] registered with the tokio reactor, to wait for the process's exit.
#[derive(Debug)]
pub struct AsyncPidfd(tokio::io::unix::AsyncFd<Pidfd>);

impl Pidfd {
    /// Registers it with the current tokio reactor (call within a runtime).
    pub fn into_async(self) -> io::Result<AsyncPidfd> {
        crate::sys::register_pidfd(self).map(AsyncPidfd)
    }
}

impl AsyncPidfd {
    /// Waits until the process has exited (it may still be a zombie: reaping is the parent's).
    pub async fn exited(&self) -> io::Result<()> {
        self.0.readable().await.map(|mut g| g.retain_ready())
    }

    /// The descriptor.
    pub fn pidfd(&self) -> &Pidfd {
        self.0.get_ref()
    }
}

impl AsFd for Pidfd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Pidfd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Raises this process's soft limit of open files to its hard limit; returns the new limit.
pub fn raise_open_files_limit() -> io::Result<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    setrlimit(Resource::Nofile, limit)?;
    Ok(limit.current.unwrap_or(u64::MAX))
}

/// Peak resident memory of process `pid` in KiB (`VmHWM`), if it is still there.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn kill_group_ends_children_too() {
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .expect("spawn");
        let pgid = child.id();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(peak_rss_kib(pgid).is_some_and(|k| k > 0));
        kill_group(pgid).expect("kill");
        let status = child.wait().expect("wait");
        assert!(!status.success());
        // The background sleeps are gone too: no live process is left in the group.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let left = std::fs::read_dir("/proc")
            .expect("proc")
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| s.rsplit(')').next().map(str::to_string))
                    .is_some_and(|rest| {
                        // Fields after the command: state, ppid, pgrp. Zombies hold nothing.
                        let f: Vec<&str> = rest.split_whitespace().collect();
                        f.len() > 2 && f[0] != "Z" && f[2] == pgid.to_string()
                    })
            })
            .count();
        assert_eq!(left, 0);
        kill_group(pgid).expect("a gone group is fine");
    }

    /// The number of a process that was reaped is given to a new process on purpose (through
    /// `ns_last_pid`, as root): a kill through the old process's pidfd must not reach it.
    #[test]
    fn pidfd_never_signals_a_process_that_got_the_number() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("SKIPPED pidfd_never_signals_a_process_that_got_the_number: needs root (ns_last_pid)");
            return;
        }
        let mut first = std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .expect("spawn");
        let pid = first.id();
        let fd = Pidfd::open(pid).expect("pidfd");
        assert!(fd.is_alive());
        fd.kill().expect("kill");
        first.wait().expect("reap");
        assert!(
            !fd.is_alive(),
            "reaped: the descriptor refers to nobody now"
        );
        // Hand the number to a new process (other processes may take it first: try again).
        let mut second = None;
        for _ in 0..200 {
            std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
                .expect("ns_last_pid");
            let mut c = std::process::Command::new("/bin/sleep")
                .arg("30")
                .spawn()
                .expect("spawn");
            if c.id() == pid {
                second = Some(c);
                break;
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let mut second = second.expect("the number was reused");
        fd.kill().expect("a kill of a gone process is not an error");
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            second.try_wait().expect("try_wait").is_none(),
            "the process that got the number was signalled"
        );
        let _ = second.kill();
        let _ = second.wait();
    }

    #[test]
    fn open_child_of_checks_the_parent() {
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .expect("spawn");
        let me = std::process::id();
        assert!(Pidfd::open_child_of(child.id(), me).is_ok());
        assert!(Pidfd::open_child_of(child.id(), me + 1).is_err());
        let _ = child.kill();
        let _ = child.wait();
    }
}
