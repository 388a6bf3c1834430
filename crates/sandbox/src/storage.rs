//! Ephemeral storage for `/tmp`, and read-only copies of code and runtime trees
//! ([`TreeImage`]). `/tmp` is an ext4 file system of exactly the configured size on a loop
//! device backed by a sparse file, mounted ahead of time so that a cold start only binds it.
//! Being disk-backed, what a function writes to `/tmp` is page cache the kernel can write back,
//! not memory charged against the function; being its own file system, writing past its size
//! fails with ENOSPC.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::SandboxError;
use crate::sys;

/// A mounted scratch file system, ready to become a sandbox's `/tmp`.
#[derive(Debug)]
pub struct Scratch {
    /// Where it is mounted on the host (in the server's mount namespace).
    pub mountpoint: PathBuf,
    /// Its size, MB.
    pub size_mb: u32,
}

fn err(path: &Path) -> impl FnOnce(std::io::Error) -> SandboxError + '_ {
    move |source| SandboxError::Storage {
        path: path.to_path_buf(),
        source,
    }
}

/// MB available on the file system holding `dir`.
pub fn available_mb(dir: &Path) -> Result<u64, SandboxError> {
    sys::available_bytes(dir).map(|b| b >> 20).map_err(err(dir))
}

impl Scratch {
    /// Makes one under `dir`: sparse image, mkfs, loop device (auto-detaching), mount.
    /// About 20-40 ms; meant to run ahead of need, off the cold-start path.
    pub fn create(dir: &Path, size_mb: u32) -> Result<Self, SandboxError> {
        std::fs::create_dir_all(dir).map_err(err(dir))?;
        let name = format!("{:016x}", rand_u64());
        let image = dir.join(format!("{name}.img"));
        let mountpoint = dir.join(&name);
        let result = (|| {
            let f = File::create(&image).map_err(err(&image))?;
            f.set_len(u64::from(size_mb) << 20).map_err(err(&image))?;
            drop(f);
            mkfs(&image, &[])?;
            let device = attach_loop(&image)?;
            std::fs::create_dir_all(&mountpoint).map_err(err(&mountpoint))?;
            let mounted = sys::mount(
                Some(&device.0),
                &mountpoint,
                Some("ext4"),
                libc::MS_NOSUID | libc::MS_NODEV,
                None,
            )
            .map_err(err(&mountpoint));
            // The mount now holds the device; closing ours lets it detach after the unmount.
            drop(device.1);
            mounted?;
            let _ = std::fs::remove_dir(mountpoint.join("lost+found"));
            std::fs::set_permissions(&mountpoint, std::fs::Permissions::from_mode(0o1777))
                .map_err(err(&mountpoint))?;
            Ok(())
        })();
        // The loop device holds the image open: its name is no longer needed.
        let _ = std::fs::remove_file(&image);
        match result {
            Ok(()) => Ok(Self {
                mountpoint,
                size_mb,
            }),
            Err(e) => {
                let _ = sys::umount2(&mountpoint, libc::MNT_DETACH);
                let _ = std::fs::remove_dir(&mountpoint);
                Err(e)
            }
        }
    }

    /// Removes what a crashed server left under `dir`.
    pub fn clean(dir: &Path) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                let _ = sys::umount2(&p, libc::MNT_DETACH);
                let _ = std::fs::remove_dir(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}

/// Dropping it unmounts it here (sandboxes that bound it keep it until they end); the loop
/// device detaches itself once the last mount is gone.
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = sys::umount2(&self.mountpoint, libc::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.mountpoint);
    }
}

/// Runs the e2fsprogs tool `name` (from /usr/sbin or /sbin) with `args` on `image`; fails,
/// with what it said, when it exits non-zero or `failed` finds a failure in its stderr.
fn run_e2fs_tool(
    name: &str,
    args: &[&std::ffi::OsStr],
    image: &Path,
    failed: impl Fn(&str) -> bool,
) -> Result<(), SandboxError> {
    // An absolute path: with it std spawns by posix_spawn (a vfork-style clone), where a PATH
    // search under a changed PATH would fork the whole server.
    let program = ["/usr/sbin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name));
    let output = Command::new(&program)
        .args(args)
        .arg(image)
        .env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(err(image))?;
    let said = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() || failed(&said) {
        return Err(SandboxError::Storage {
            path: image.to_path_buf(),
            source: std::io::Error::other(format!(
                "{name} failed: {}: {}",
                output.status,
                said.trim()
            )),
        });
    }
    Ok(())
}

/// Makes an ext4 file system without a journal in `image`, with `extra` arguments (a tree to
/// copy in, an inode count).
fn mkfs(image: &Path, extra: &[&std::ffi::OsStr]) -> Result<(), SandboxError> {
    let mut args: Vec<&std::ffi::OsStr> = [
        "-q",
        "-F",
        "-O",
        "^has_journal",
        "-m",
        "0",
        "-E",
        "nodiscard,root_owner=0:0",
    ]
    .iter()
    .map(|a| a.as_ref())
    .collect();
    args.extend_from_slice(extra);
    run_e2fs_tool("mkfs.ext4", &args, image, |_| false)
}

/// A directory tree copied into a read-only file system of its own (ext4 on a loop device),
/// mounted in the server's mount namespace. Bound into a sandbox from its root, it shows `/`
/// as its root in the sandbox's `/proc/self/mountinfo`: nothing of where the tree lives on the
/// host. The copy is made by `mkfs.ext4 -d` from a tree Nimbus wrote itself, so the kernel
/// only ever mounts metadata mkfs produced, never an image a user supplied.
#[derive(Debug)]
pub struct TreeImage {
    /// Where it is mounted (read-only) on the host.
    pub mountpoint: PathBuf,
    /// The bytes of data it holds (each file rounded up to 4 KiB): about the disk it takes.
    pub bytes: u64,
}

impl TreeImage {
    /// Copies `tree` into a new image under `dir` and mounts it read-only. About 10 ms plus
    /// the copy (a 37 MB SDK of 3,500 files: about 0.6 s).
    pub fn create(dir: &Path, tree: &Path) -> Result<Self, SandboxError> {
        std::fs::create_dir_all(dir).map_err(err(dir))?;
        let (bytes, entries) = tree_size(tree).map_err(err(tree))?;
        let name = format!("{:016x}", rand_u64());
        let image = dir.join(format!("{name}.img"));
        let mountpoint = dir.join(&name);
        let result = (|| {
            // Sparse: only what mkfs writes takes space. Room for every entry's blocks and
            // metadata on top of the data.
            let size = (bytes + bytes / 8 + entries * 8192 + (16 << 20)).next_multiple_of(1 << 20);
            let f = File::create(&image).map_err(err(&image))?;
            f.set_len(size).map_err(err(&image))?;
            drop(f);
            let inodes = (entries + 64).to_string();
            mkfs(
                &image,
                &[
                    "-d".as_ref(),
                    tree.as_os_str(),
                    "-N".as_ref(),
                    inodes.as_ref(),
                    "-b".as_ref(),
                    "4096".as_ref(),
                ],
            )?;
            // mkfs always makes lost+found; the tree had none. Removed in the image itself, so
            // that it is mounted read-only from the start (a remount would cost a sync).
            remove_lost_found(&image)?;
            let device = attach_loop_with(&image, true)?;
            std::fs::create_dir_all(&mountpoint).map_err(err(&mountpoint))?;
            let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_RDONLY;
            let mounted = sys::mount(Some(&device.0), &mountpoint, Some("ext4"), flags, None)
                .map_err(err(&mountpoint));
            drop(device.1);
            mounted
        })();
        let _ = std::fs::remove_file(&image);
        match result {
            Ok(()) => Ok(Self { mountpoint, bytes }),
            Err(e) => {
                let _ = sys::umount2(&mountpoint, libc::MNT_DETACH);
                let _ = std::fs::remove_dir(&mountpoint);
                Err(e)
            }
        }
    }
}

/// Unmounted here when dropped (sandboxes that bound it keep it until they end); the loop
/// device detaches once the last mount is gone.
impl Drop for TreeImage {
    fn drop(&mut self) {
        let _ = sys::umount2(&self.mountpoint, libc::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.mountpoint);
    }
}

/// Removes the `lost+found` mkfs made in `image` (not mounted), with debugfs.
fn remove_lost_found(image: &Path) -> Result<(), SandboxError> {
    // debugfs reports a failed command on stderr with exit status 0; its banner goes there too.
    run_e2fs_tool(
        "debugfs",
        &["-w".as_ref(), "-R".as_ref(), "rmdir lost+found".as_ref()],
        image,
        |said| said.lines().any(|l| l.starts_with("rmdir:")),
    )
}

/// Bytes of data (each file rounded up to 4 KiB) and entries under `tree`, links not followed.
fn tree_size(tree: &Path) -> std::io::Result<(u64, u64)> {
    let (mut bytes, mut entries) = (0u64, 0u64);
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let meta = e.path().symlink_metadata()?;
            entries += 1;
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                bytes += meta.len().next_multiple_of(4096);
            }
        }
    }
    Ok((bytes, entries))
}

/// Attaches `image` to a free loop device; returns its path and an open descriptor of it.
fn attach_loop(image: &Path) -> Result<(PathBuf, File), SandboxError> {
    attach_loop_with(image, false)
}

/// [`attach_loop`], read-only when `read_only` (the device refuses writes).
fn attach_loop_with(image: &Path, read_only: bool) -> Result<(PathBuf, File), SandboxError> {
    let control_path = Path::new("/dev/loop-control");
    let control = OpenOptions::new()
        .read(true)
        .write(true)
        .open(control_path)
        .map_err(err(control_path))?;
    let backing = OpenOptions::new()
        .read(true)
        .write(!read_only)
        .open(image)
        .map_err(err(image))?;
    // LOOP_CTL_GET_FREE names the same free device to every caller until one attaches it:
    // this process's own image makers take turns (a burst of cold starts makes dozens at
    // once), and other processes are outrun by asking again.
    static ATTACHING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ATTACHING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..64 {
        let n = sys::loop_get_free(control.as_raw_fd()).map_err(err(control_path))?;
        let path = PathBuf::from(format!("/dev/loop{n}"));
        let dev = OpenOptions::new()
            .read(true)
            .write(!read_only)
            .open(&path)
            .map_err(err(&path))?;
        match sys::loop_attach(dev.as_raw_fd(), backing.as_raw_fd()) {
            Ok(()) => return Ok((path, dev)),
            // Taken by another process between the two calls: ask again.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::yield_now();
                continue;
            }
            Err(e) => return Err(err(&path)(e)),
        }
    }
    Err(SandboxError::Storage {
        path: control_path.to_path_buf(),
        source: std::io::Error::other("no free loop device"),
    })
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}
