//! The read-only file systems the sandbox launcher binds as `/var/task`, `/var/runtime` and the
//! SDK directory: one [`TreeImage`] per host directory, shared by every environment that uses
//! it, so that a sandbox's `/proc/self/mountinfo` names no host path.
//!
//! A code package's image is made at the first cold start that needs it and kept while an
//! environment holds it and for [`LINGER`] after the last one (a function scaling up again, or
//! its configuration changing, reuses it). Runtime and SDK trees are the same for every
//! function: their images are made once, ahead of need ([`TreeImages::preload`]), and kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use nimbus_sandbox::storage::TreeImage;
use nimbus_sandbox::SandboxError;

/// How long an image no environment holds stays mounted.
const LINGER: Duration = Duration::from_secs(600);
/// Most images kept lingering at once (each holds a loop device), and most bytes of data they
/// may hold together: an image takes about its package's size on the data disk, so lingering
/// ones must not add up to much (those in use are bounded by the environments that use them).
const MAX_LINGERING: usize = 256;
const MAX_LINGERING_BYTES: u64 = 2 << 30;

#[derive(Default)]
struct Slot {
    /// The tree's directory inode when the image was made: a tree renamed into place anew (an
    /// SDK installed again) is a new tree.
    inode: u64,
    image: Weak<TreeImage>,
    /// Held for ever: runtime and SDK trees.
    pinned: Option<Arc<TreeImage>>,
}

pub(crate) struct TreeImages {
    dir: PathBuf,
    /// One slot per tree; its lock is held while the image is made, so two cold starts of one
    /// new package make it once.
    slots: Mutex<HashMap<PathBuf, Arc<Mutex<Slot>>>>,
    /// Recently used images, kept past their last environment until their time is up.
    lingering: Mutex<Vec<(Instant, Arc<TreeImage>)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TreeImages {
    /// Images under `dir` (emptied first: what a crashed server left is unmounted and removed).
    pub(crate) fn new(dir: PathBuf) -> Self {
        nimbus_sandbox::storage::Scratch::clean(&dir);
        Self {
            dir,
            slots: Mutex::new(HashMap::new()),
            lingering: Mutex::new(Vec::new()),
        }
    }

    /// The image of `tree`, made now if there is none. Blocking: a new image copies the tree.
    pub(crate) fn get(&self, tree: &Path) -> Result<Arc<TreeImage>, SandboxError> {
        self.get_or_make(tree, false)
    }

    fn get_or_make(&self, tree: &Path, pin: bool) -> Result<Arc<TreeImage>, SandboxError> {
        let slot = {
            let mut slots = lock(&self.slots);
            // Slots whose image is gone and that nobody is filling are forgotten.
            slots.retain(|_, s| {
                Arc::strong_count(s) > 1
                    || s.try_lock()
                        .map_or(true, |s| s.pinned.is_some() || s.image.strong_count() > 0)
            });
            Arc::clone(slots.entry(tree.to_path_buf()).or_default())
        };
        let mut slot = lock(&slot);
        let inode =
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(tree).map_err(|source| {
                SandboxError::Storage {
                    path: tree.to_path_buf(),
                    source,
                }
            })?);
        if slot.inode != inode {
            *slot = Slot {
                inode,
                ..Slot::default()
            };
        }
        let image = match slot.image.upgrade() {
            Some(image) => image,
            None => {
                let started = Instant::now();
                let image = Arc::new(TreeImage::create(&self.dir, tree)?);
                tracing::debug!(tree = %tree.display(), took = ?started.elapsed(), "read-only image made");
                slot.image = Arc::downgrade(&image);
                image
            }
        };
        if pin {
            slot.pinned = Some(Arc::clone(&image));
        } else if slot.pinned.is_none() {
            self.linger(&image);
        }
        Ok(image)
    }

    /// Keeps `image` for [`LINGER`] from now; ends the lingering of those whose time is up.
    fn linger(&self, image: &Arc<TreeImage>) {
        let now = Instant::now();
        let expired: Vec<Arc<TreeImage>> = {
            let mut lingering = lock(&self.lingering);
            lingering.retain(|(_, i)| !Arc::ptr_eq(i, image));
            lingering.push((now, Arc::clone(image)));
            let sizes: Vec<u64> = lingering.iter().map(|(_, i)| i.bytes).collect();
            let over = oldest_over_the_caps(&sizes, MAX_LINGERING, MAX_LINGERING_BYTES);
            let mut expired: Vec<Arc<TreeImage>> =
                lingering.drain(..over).map(|(_, i)| i).collect();
            let mut kept = Vec::with_capacity(lingering.len());
            for (at, i) in lingering.drain(..) {
                if now.duration_since(at) > LINGER {
                    expired.push(i);
                } else {
                    kept.push((at, i));
                }
            }
            *lingering = kept;
            expired
        };
        // Unmounted (if no environment holds them) outside the lock.
        drop(expired);
    }

    /// `tree` is gone (a removed code package): its image lingers no more, and goes as soon as
    /// no environment holds it.
    pub(crate) fn forget(&self, tree: &Path) {
        let slot = lock(&self.slots).remove(tree);
        let Some(image) = slot.and_then(|s| lock(&s).image.upgrade()) else {
            return;
        };
        let dropped: Vec<(Instant, Arc<TreeImage>)> = {
            let mut lingering = lock(&self.lingering);
            let (gone, kept) = lingering
                .drain(..)
                .partition(|(_, i)| Arc::ptr_eq(i, &image));
            *lingering = kept;
            gone
        };
        drop(image);
        drop(dropped);
    }

    /// Makes and keeps the images of `trees` (runtime and SDK directories), each that exists.
    pub(crate) fn preload(&self, trees: &[PathBuf]) {
        for tree in trees.iter().filter(|t| t.is_dir()) {
            if let Err(e) = self.get_or_make(tree, true) {
                tracing::warn!(tree = %tree.display(), error = %e, "could not make a read-only image");
            }
        }
    }

    /// The pinned image of `tree` (made now if preloading has not reached it yet).
    pub(crate) fn pinned(&self, tree: &Path) -> Result<Arc<TreeImage>, SandboxError> {
        self.get_or_make(tree, true)
    }
}

/// How many of the oldest of `sizes` (oldest first) must go so that at most `max_count` remain
/// and they hold at most `max_bytes`; the newest always stays.
fn oldest_over_the_caps(sizes: &[u64], max_count: usize, max_bytes: u64) -> usize {
    let mut over = sizes.len().saturating_sub(max_count);
    let mut bytes: u64 = sizes[over..].iter().sum();
    while over + 1 < sizes.len() && bytes > max_bytes {
        bytes -= sizes[over];
        over += 1;
    }
    over
}

#[cfg(test)]
mod tests {
    use super::oldest_over_the_caps;

    #[test]
    fn lingering_images_are_bounded_by_count_and_bytes_oldest_first() {
        assert_eq!(oldest_over_the_caps(&[1, 1, 1], 5, 10), 0);
        assert_eq!(oldest_over_the_caps(&[1, 1, 1, 1], 2, 10), 2, "the count");
        assert_eq!(oldest_over_the_caps(&[6, 3, 4], 5, 10), 1, "the bytes");
        assert_eq!(
            oldest_over_the_caps(&[6, 3, 40], 5, 10),
            2,
            "the newest stays however big"
        );
        assert_eq!(oldest_over_the_caps(&[], 5, 10), 0);
    }
}
