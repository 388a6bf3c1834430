//! Warm environments waiting for their next invocation, by function version and generation.
//! An environment whose runtime has exited is never handed out: it is dropped on the way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::environment::Environment;
use crate::resolve::Generation;

/// Which idle environments may serve an invocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PoolKey {
    pub(crate) function: Arc<str>,
    pub(crate) version: Arc<str>,
    pub(crate) generation: Generation,
}

struct Idle {
    env: Environment,
    since: Instant,
}

/// The idle environments. Methods that remove environments return them: ending one is work
/// (signals, unmounts) for the caller to do off the lock and off the event loop.
#[derive(Default)]
pub(crate) struct Pools {
    idle: Mutex<HashMap<PoolKey, Vec<Idle>>>,
}

impl Pools {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PoolKey, Vec<Idle>>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Idle provisioned-concurrency environments, by the target (function, qualifier) they
    /// belong to.
    pub(crate) fn idle_provisioned(&self) -> HashMap<(String, String), u32> {
        let mut n = HashMap::new();
        for list in self.lock().values() {
            for i in list {
                if let Some(slot) = &i.env.provisioned {
                    *n.entry(slot.key().clone()).or_insert(0) += 1;
                }
            }
        }
        n
    }

    /// The most recently used live environment of `key`, and the dead ones found on the way.
    pub(crate) fn take(&self, key: &PoolKey) -> (Option<Environment>, Vec<Environment>) {
        let mut dead = Vec::new();
        let mut idle = self.lock();
        let Some(list) = idle.get_mut(key) else {
            return (None, dead);
        };
        // Provisioned environments first (the most recently used of them), then the rest.
        let mut found = None;
        while let Some(at) = list
            .iter()
            .rposition(|i| i.env.provisioned.is_some())
            .or_else(|| list.len().checked_sub(1))
        {
            let i = list.remove(at);
            if i.env.is_alive() {
                found = Some(i.env);
                break;
            }
            dead.push(i.env);
        }
        if list.is_empty() {
            idle.remove(key);
        }
        (found, dead)
    }

    /// Puts an environment back after an invocation.
    pub(crate) fn put(&self, key: PoolKey, env: Environment) {
        self.lock().entry(key).or_default().push(Idle {
            env,
            since: Instant::now(),
        });
    }

    /// Idle environments of `function` that `matches` picks.
    fn evict_where(&self, function: &str, matches: impl Fn(&PoolKey) -> bool) -> Vec<Environment> {
        let mut out = Vec::new();
        self.lock().retain(|k, list| {
            if &*k.function != function || !matches(k) {
                return true;
            }
            out.extend(list.drain(..).map(|i| i.env));
            false
        });
        out
    }

    /// Every idle environment of `function` (it was deleted).
    pub(crate) fn evict(&self, function: &str) -> Vec<Environment> {
        self.evict_where(function, |_| true)
    }

    /// The idle environments of one generation of `function` (it was replaced).
    pub(crate) fn evict_generation(&self, function: &str, old: &Generation) -> Vec<Environment> {
        self.evict_where(function, |k| &k.generation == old)
    }

    /// Environments idle for `keep_alive` or more, and any whose runtime exited.
    pub(crate) fn reap(&self, keep_alive: Duration) -> Vec<Environment> {
        let mut out = Vec::new();
        let now = Instant::now();
        let mut idle = self.lock();
        for list in idle.values_mut() {
            // Provisioned environments stay, however long idle, while they live.
            let (stay, go): (Vec<Idle>, Vec<Idle>) = list.drain(..).partition(|i| {
                i.env.is_alive()
                    && (i.env.provisioned.is_some() || now.duration_since(i.since) < keep_alive)
            });
            *list = stay;
            out.extend(go.into_iter().map(|i| i.env));
        }
        idle.retain(|_, l| !l.is_empty());
        out
    }

    /// Everything (shutdown).
    /// Idle provisioned environments no target wants any more become on-demand ones (their
    /// keep-alive starting now).
    pub(crate) fn demote_unwanted(&self, provisioned: &crate::provisioned::Provisioned) {
        let now = Instant::now();
        let mut idle = self.lock();
        for list in idle.values_mut() {
            for i in list.iter_mut() {
                if i.env
                    .provisioned
                    .as_ref()
                    .is_some_and(|s| !provisioned.wants(s))
                {
                    i.env.provisioned = None;
                    i.since = now;
                }
            }
        }
    }

    /// Ends up to `n` idle on-demand environments, those idle longest first (provisioned
    /// ones stay).
    pub(crate) fn evict_longest_idle(&self, n: usize) -> Vec<Environment> {
        let mut idle = self.lock();
        let mut candidates: Vec<(Instant, PoolKey)> = idle
            .iter()
            .flat_map(|(k, list)| {
                list.iter()
                    .filter(|i| i.env.provisioned.is_none())
                    .map(move |i| (i.since, k.clone()))
            })
            .collect();
        candidates.sort_by_key(|(since, _)| *since);
        let mut out = Vec::new();
        for (since, key) in candidates.into_iter().take(n) {
            if let Some(list) = idle.get_mut(&key) {
                if let Some(at) = list
                    .iter()
                    .position(|i| i.since == since && i.env.provisioned.is_none())
                {
                    out.push(list.remove(at).env);
                }
            }
        }
        idle.retain(|_, l| !l.is_empty());
        out
    }

    pub(crate) fn drain(&self) -> Vec<Environment> {
        self.lock()
            .drain()
            .flat_map(|(_, v)| v.into_iter().map(|i| i.env))
            .collect()
    }

    pub(crate) fn count(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}
