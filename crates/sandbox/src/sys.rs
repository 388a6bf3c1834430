//! One small function per Linux call the sandbox makes. The only module with `unsafe`.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::path::Path;

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `unshare(2)`.
pub(crate) fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare takes only an integer flag set and touches no memory of ours.
    check(unsafe { libc::unshare(flags) }).map(drop)
}

/// `setns(2)` into the namespace `fd` refers to.
pub(crate) fn setns(fd: RawFd, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: setns takes a descriptor and a flag; an invalid descriptor is reported as EBADF.
    check(unsafe { libc::setns(fd, nstype) }).map(drop)
}

/// What `fork` returned.
pub(crate) enum Forked {
    Parent(libc::pid_t),
    Child,
}

/// `fork(2)`. Only called from the single-threaded sandbox-init helper.
pub(crate) fn fork() -> io::Result<Forked> {
    // SAFETY: the helper is single-threaded (it is our binary freshly exec'd, before any thread
    // is started), so the child inherits no lock held by another thread.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        p => Ok(Forked::Parent(p)),
    }
}

/// `waitpid(2)`; returns the pid reaped and its raw status.
pub(crate) fn waitpid(pid: libc::pid_t) -> io::Result<(libc::pid_t, libc::c_int)> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: status is a valid, writable int for the duration of the call.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == -1 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok((r, status));
    }
}

/// The exit code a shell would report for a raw wait status.
pub(crate) fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

/// `mount(2)`.
pub(crate) fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(cstr).transpose()?;
    let target = cstr(target)?;
    let fstype = fstype
        .map(|f| CString::new(f).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput)))
        .transpose()?;
    let data = data
        .map(|d| CString::new(d).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput)))
        .transpose()?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is either null or a NUL-terminated string that outlives the call.
    check(unsafe {
        libc::mount(
            ptr(&source),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    })
    .map(drop)
}

/// `umount2(2)`.
pub(crate) fn umount2(target: &Path, flags: libc::c_int) -> io::Result<()> {
    let target = cstr(target)?;
    // SAFETY: target is a NUL-terminated string that outlives the call.
    check(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

/// `pivot_root(2)`.
pub(crate) fn pivot_root(new_root: &Path, put_old: &Path) -> io::Result<()> {
    let new_root = cstr(new_root)?;
    let put_old = cstr(put_old)?;
    // SAFETY: both arguments are NUL-terminated strings that outlive the call; pivot_root has no
    // libc wrapper, so it is made as a raw system call with exactly its two pointer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `sethostname(2)`.
pub(crate) fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe the bytes of `name`, valid for the call.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// `setrlimit(2)` with equal soft and hard limits.
pub(crate) fn setrlimit(resource: libc::__rlimit_resource_t, limit: u64) -> io::Result<()> {
    let rl = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: rl is a valid rlimit struct for the duration of the call.
    check(unsafe { libc::setrlimit(resource, &rl) }).map(drop)
}

/// Drops every capability from the bounding set.
pub(crate) fn drop_bounding_set() -> io::Result<()> {
    for cap in 0..=63 {
        // SAFETY: PR_CAPBSET_DROP takes a capability number; unknown numbers give EINVAL, which
        // ends the loop past the kernel's last capability.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
        if r == -1 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINVAL) {
                return Ok(());
            }
            return Err(e);
        }
    }
    Ok(())
}

/// `setgroups(0, NULL)`, `setresgid`, `setresuid`: become `uid`/`gid` with no supplementary
/// groups. Moving from uid 0 to another clears the permitted and effective capabilities.
pub(crate) fn become_user(uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: a zero-length group list with a null pointer is the documented way to clear it.
    check(unsafe { libc::setgroups(0, std::ptr::null()) })?;
    // SAFETY: setresgid takes three integers.
    check(unsafe { libc::setresgid(gid, gid, gid) })?;
    // SAFETY: setresuid takes three integers.
    check(unsafe { libc::setresuid(uid, uid, uid) }).map(drop)
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
pub(crate) fn no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes only integer arguments.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }).map(drop)
}

/// Brings the loopback interface of the current network namespace up.
pub(crate) fn loopback_up() -> io::Result<()> {
    // SAFETY: socket takes integer arguments and returns a new descriptor or -1.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: fd is our socket and req a valid ifreq naming "lo", written by the kernel.
    let got = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) };
    let result = if got == -1 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: after SIOCGIFFLAGS the flags member of the union is the one the kernel set.
        let flags = unsafe { req.ifr_ifru.ifru_flags };
        req.ifr_ifru.ifru_flags = flags | (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        // SAFETY: fd is our socket and req a valid ifreq with the new flags.
        check(unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) }).map(drop)
    };
    // SAFETY: fd is a descriptor we own and close exactly once.
    unsafe { libc::close(fd) };
    result
}

/// `dup2(2)`, for placing inherited descriptors; async-signal-safe, so usable after fork.
pub(crate) fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 takes two descriptors; errors are reported, nothing else is touched.
    check(unsafe { libc::dup2(from, to) }).map(drop)
}

/// `close(2)`.
pub(crate) fn close(fd: RawFd) {
    // SAFETY: the caller hands over ownership of fd; an already closed fd gives EBADF only.
    unsafe { libc::close(fd) };
}

/// `kill(2)`.
pub(crate) fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes two integers.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// `getpid(2)`.
pub(crate) fn getpid() -> libc::pid_t {
    // SAFETY: getpid cannot fail and takes no arguments.
    unsafe { libc::getpid() }
}

/// `_exit(2)`: leave now, without running destructors (after fork, in a child).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// Duplicates `fd` to a number of at least 100, close-on-exec, so that it can be placed at a
/// low number without clashing with the other placements.
pub(crate) fn dup_high(fd: RawFd) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: F_DUPFD_CLOEXEC takes a descriptor and a minimum number and returns a new one.
    let new = check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) })?;
    // SAFETY: `new` is a fresh descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(new) })
}

/// `struct loop_info64` of `<linux/loop.h>`.
#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

const LOOP_SET_FD: libc::c_ulong = 0x4C00;
const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
const LOOP_SET_STATUS64: libc::c_ulong = 0x4C04;
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

/// `LOOP_CTL_GET_FREE` on /dev/loop-control: the number of a free loop device.
pub(crate) fn loop_get_free(control: RawFd) -> io::Result<u32> {
    // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number or -1.
    let n = check(unsafe { libc::ioctl(control, LOOP_CTL_GET_FREE) })?;
    u32::try_from(n).map_err(|_| io::Error::other("negative loop number"))
}

/// Attaches `file` to the loop device `dev` and marks it to detach itself when it is no longer
/// used (after the last unmount).
pub(crate) fn loop_attach(dev: RawFd, file: RawFd) -> io::Result<()> {
    // SAFETY: LOOP_SET_FD takes the backing file's descriptor as its integer argument.
    check(unsafe { libc::ioctl(dev, LOOP_SET_FD, file) })?;
    // SAFETY: LoopInfo64 is plain old data; all-zero is a valid value.
    let mut info: LoopInfo64 = unsafe { std::mem::zeroed() };
    info.lo_flags = LO_FLAGS_AUTOCLEAR;
    // SAFETY: info is a valid loop_info64 that outlives the call.
    if let Err(e) = check(unsafe { libc::ioctl(dev, LOOP_SET_STATUS64, &info) }) {
        // SAFETY: LOOP_CLR_FD takes no argument; it undoes the attachment made above.
        unsafe { libc::ioctl(dev, LOOP_CLR_FD, 0) };
        return Err(e);
    }
    Ok(())
}

/// `pidfd_open(2)`: a descriptor that refers to process `pid` for as long as it is held, even
/// after the process is gone and its number is given to another.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: the syscall takes a pid and flags (0) and returns a new descriptor or -1.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(ret).map_err(|_| io::Error::other("pidfd out of range"))?;
    // SAFETY: fd was just returned by pidfd_open, is open, and is owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// `pidfd_send_signal(2)`: signal `sig` (0 only checks) to the process `pidfd` refers to; ESRCH
/// once it has been reaped, never another process.
pub(crate) fn pidfd_send_signal(pidfd: RawFd, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: the syscall takes a descriptor, a signal number, a null siginfo and flags 0.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Registers a pidfd with the tokio reactor (readable once the process exits).
pub(crate) fn register_pidfd(
    pidfd: crate::process::Pidfd,
) -> io::Result<tokio::io::unix::AsyncFd<crate::process::Pidfd>> {
    // SAFETY: `Pidfd` owns its descriptor and closes it only when dropped, and the AsyncFd
    // owns the `Pidfd`: the descriptor stays open and unchanged for the registration's life,
    // and `as_raw_fd` always returns that same descriptor.
    unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE)
    }
    .map_err(|e| e.into_parts().1)
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(2)` with `AT_RECURSIVE`: read-only, nosuid and nodev for the mount at
/// `target` and every mount beneath it.
pub(crate) fn mount_setattr_read_only_recursive(target: &Path) -> io::Result<()> {
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const MOUNT_ATTR_NOSUID: u64 = 0x2;
    const MOUNT_ATTR_NODEV: u64 = 0x4;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let path = cstr(target)?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: path is a valid NUL-terminated string and attr a properly laid out, initialized
    // `struct mount_attr` whose size is passed; both outlive the call, which only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `statvfs(3)`: bytes available to unprivileged users on the file system holding `path`.
pub(crate) fn available_bytes(path: &Path) -> io::Result<u64> {
    let p = cstr(path)?;
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: p is NUL-terminated and st a valid, writable statvfs; both outlive the call.
    check(unsafe { libc::statvfs(p.as_ptr(), &mut st) })?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}
