//! Which code packages live environments use, so that a package no function refers to any more
//! is removed only once the last environment running it has ended.
//!
//! A function's code can change (UpdateFunctionCode, DeleteFunction) while an invocation of the
//! old code is still running: its environment's `/var/task` is the old package's directory, and
//! deleting files under it would pull modules away from a running function. Each environment
//! holds a [`CodeLease`] from before its launch until it is dropped. The server asks
//! [`CodeLeases::hold_back`] which unused packages it must keep for now; those are announced on
//! the channel from [`CodeLeases::subscribe`] when their last lease ends, and the server removes
//! them then.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

#[derive(Default)]
struct Inner {
    /// Live leases per package directory.
    counts: HashMap<PathBuf, usize>,
    /// Packages the server wanted gone while leased: announced when their count reaches 0.
    waiting: HashSet<PathBuf>,
    /// Packages being removed right now: no new lease on them.
    removing: HashSet<PathBuf>,
}

/// The leases of one engine.
#[derive(Default)]
pub struct CodeLeases {
    inner: Mutex<Inner>,
    freed: Mutex<Option<mpsc::UnboundedSender<PathBuf>>>,
}

/// One environment's use of its package directory; the use ends when this is dropped.
pub struct CodeLease {
    leases: Arc<CodeLeases>,
    dir: PathBuf,
}

impl std::fmt::Debug for CodeLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeLease").field("dir", &self.dir).finish()
    }
}

/// A lease was asked for a package that is being removed: the configuration that named it is
/// no longer any function's.
#[derive(Debug, thiserror::Error)]
#[error("the code package {0} is being removed: the function's code changed")]
pub struct Removed(pub PathBuf);

impl CodeLeases {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A lease on `dir`, for an environment about to be launched with it.
    pub fn take(self: &Arc<Self>, dir: &Path) -> Result<CodeLease, Removed> {
        let mut inner = self.lock();
        if inner.removing.contains(dir) {
            return Err(Removed(dir.to_path_buf()));
        }
        *inner.counts.entry(dir.to_path_buf()).or_default() += 1;
        Ok(CodeLease {
            leases: Arc::clone(self),
            dir: dir.to_path_buf(),
        })
    }

    /// Of `unused` (packages no function refers to), the ones a live environment still runs:
    /// they must be kept, and are announced once free. The others are marked as being removed
    /// (no lease is granted on them) until [`CodeLeases::removed`] is called.
    pub fn hold_back(&self, unused: &[PathBuf]) -> HashSet<PathBuf> {
        let mut inner = self.lock();
        let mut held = HashSet::new();
        for dir in unused {
            if inner.counts.get(dir).is_some_and(|n| *n > 0) {
                inner.waiting.insert(dir.clone());
                held.insert(dir.clone());
            } else {
                inner.removing.insert(dir.clone());
            }
        }
        held
    }

    /// The removal [`CodeLeases::hold_back`] allowed is over (done or failed).
    pub fn removed(&self, dirs: &[PathBuf]) {
        let mut inner = self.lock();
        for d in dirs {
            inner.removing.remove(d);
        }
    }

    /// How many leases `dir` has.
    pub fn count(&self, dir: &Path) -> usize {
        self.lock().counts.get(dir).copied().unwrap_or(0)
    }

    /// From now on, each held-back package is sent here when its last lease ends.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<PathBuf> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.freed.lock().unwrap_or_else(PoisonError::into_inner) = Some(tx);
        rx
    }
}

impl Drop for CodeLease {
    fn drop(&mut self) {
        let freed = {
            let mut inner = self.leases.lock();
            let last = match inner.counts.get_mut(&self.dir) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                _ => {
                    inner.counts.remove(&self.dir);
                    true
                }
            };
            last && inner.waiting.remove(&self.dir)
        };
        if freed {
            let tx = self
                .leases
                .freed
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(tx) = tx.as_ref() {
                let _ = tx.send(self.dir.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leased_package_is_held_back_and_announced_when_its_last_lease_ends() {
        let leases = Arc::new(CodeLeases::default());
        let mut freed = leases.subscribe();
        let (a, b) = (PathBuf::from("/pkgs/a"), PathBuf::from("/pkgs/b"));
        let first = leases.take(&a).expect("lease");
        let second = leases.take(&a).expect("lease");
        assert_eq!(leases.count(&a), 2);

        let held = leases.hold_back(&[a.clone(), b.clone()]);
        assert_eq!(held, HashSet::from([a.clone()]));
        // b is being removed: an environment of a stale configuration cannot start on it.
        assert!(leases.take(&b).is_err());
        leases.removed(std::slice::from_ref(&b));
        assert!(leases.take(&b).is_ok());

        drop(first);
        assert!(freed.try_recv().is_err(), "one environment still runs it");
        drop(second);
        assert_eq!(freed.try_recv().ok(), Some(a.clone()));
        assert_eq!(leases.count(&a), 0);
        // Announced once: a later lease and release of a package nobody asked to remove
        // announces nothing.
        drop(leases.take(&a).expect("lease"));
        assert!(freed.try_recv().is_err());
    }
}
