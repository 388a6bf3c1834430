//! Process groups: an environment's runtime is started as the leader of a new process group, so
//! that everything it starts can be ended with one signal.

use std::io;

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
}
