//! Provisioned concurrency: environments initialized ahead of invocations for a version (or
//! the version an alias routes to), kept however long they stay idle, replaced when they end,
//! and preferred by the claim stage. Invocations beyond them cold-start on demand as usual.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::pipeline::Claimed;
use crate::pool::PoolKey;
use crate::Engine;

/// What a target asks for, and how it stands.
#[derive(Debug)]
struct Target {
    region: String,
    requested: u32,
    /// Live environments made for it, of its current configuration (each holds a [`Slot`]).
    allocated: Arc<AtomicU32>,
    /// The configuration its environments are made of, as last resolved: when it changes
    /// (an alias moved, the function's settings changed), the count starts over and the
    /// environments of the old one are no longer wanted.
    generation: Option<crate::resolve::Generation>,
    /// Why the last attempt to make one failed, until one succeeds.
    failure: Option<String>,
}

/// Held by an environment made for a target: counted while it lives.
#[derive(Debug)]
pub(crate) struct Slot {
    key: (String, String),
    allocated: Arc<AtomicU32>,
}

impl Slot {
    /// The target it belongs to: (function, qualifier).
    pub(crate) fn key(&self) -> &(String, String) {
        &self.key
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.allocated.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How a target stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedStatus {
    /// Environments asked for.
    pub requested: u32,
    /// Environments initialized (idle or busy).
    pub allocated: u32,
    /// Why making one failed last, if it did and not enough are there.
    pub failure: Option<String>,
}

/// The targets, by function and qualifier.
#[derive(Default)]
pub(crate) struct Provisioned {
    targets: Mutex<HashMap<(String, String), Target>>,
    /// Set while a pass runs: one at a time.
    running: AtomicBool,
}

impl Provisioned {
    fn targets(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Target>> {
        self.targets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets every target of a deleted function.
    pub(crate) fn forget(&self, function: &str) {
        self.targets().retain(|k, _| k.0 != function);
    }

    /// Whether an environment holding `slot` is still wanted: its target exists and does not
    /// have more than it asked for.
    pub(crate) fn wants(&self, slot: &Slot) -> bool {
        self.targets().get(&slot.key).is_some_and(|t| {
            Arc::ptr_eq(&t.allocated, &slot.allocated)
                && t.allocated.load(Ordering::Acquire) <= t.requested
        })
    }
}

impl Engine {
    /// Keeps `requested` environments of `function` at `qualifier` (a version number or an
    /// alias) initialized in `region`; 0 removes the target. Environments are made in the
    /// background: [`Engine::provisioned_status`] says how far that got.
    pub fn set_provisioned(
        self: &Arc<Self>,
        function: &str,
        qualifier: &str,
        region: &str,
        requested: u32,
    ) {
        let key = (function.to_string(), qualifier.to_string());
        {
            let mut targets = self.provisioned.targets();
            if requested == 0 {
                targets.remove(&key);
            } else {
                let t = targets.entry(key).or_insert_with(|| Target {
                    region: region.to_string(),
                    requested,
                    allocated: Arc::new(AtomicU32::new(0)),
                    generation: None,
                    failure: None,
                });
                t.requested = requested;
                t.region = region.to_string();
            }
        }
        // Idle environments beyond what is wanted now become on-demand ones (reaped as usual).
        self.pools.demote_unwanted(&self.provisioned);
        let engine = Arc::clone(self);
        tokio::spawn(async move { engine.provision().await });
    }

    /// Every target's levels: (function, qualifier, requested, allocated, busy), busy being
    /// its allocated environments not idle now.
    pub fn provisioned_levels(&self) -> Vec<(String, String, u32, u32, u32)> {
        let idle = self.pools.idle_provisioned();
        self.provisioned
            .targets()
            .iter()
            .map(|((function, qualifier), t)| {
                let allocated = t.allocated.load(Ordering::Acquire).min(t.requested);
                let idle = idle
                    .get(&(function.clone(), qualifier.clone()))
                    .copied()
                    .unwrap_or(0);
                (
                    function.clone(),
                    qualifier.clone(),
                    t.requested,
                    allocated,
                    allocated.saturating_sub(idle),
                )
            })
            .collect()
    }

    /// How the target of `function` at `qualifier` stands, if there is one.
    pub fn provisioned_status(&self, function: &str, qualifier: &str) -> Option<ProvisionedStatus> {
        self.provisioned
            .targets()
            .get(&(function.to_string(), qualifier.to_string()))
            .map(|t| ProvisionedStatus {
                requested: t.requested,
                allocated: t.allocated.load(Ordering::Acquire).min(t.requested),
                failure: t.failure.clone(),
            })
    }

    /// One pass: makes the environments every target lacks, one at a time (each is an init
    /// phase: the machine's CPU is shared with invocations).
    pub(crate) async fn provision(self: &Arc<Self>) {
        // Nothing to provision (the reaper calls this every tick): no pass. Environments of a
        // removed target were demoted when it went.
        if self.provisioned.targets().is_empty()
            || self.provisioned.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.pools.demote_unwanted(&self.provisioned);
        loop {
            let lacking: Vec<((String, String), String)> = self
                .provisioned
                .targets()
                .iter()
                .filter(|(_, t)| t.allocated.load(Ordering::Acquire) < t.requested)
                .map(|(k, t)| (k.clone(), t.region.clone()))
                .collect();
            if lacking.is_empty() {
                break;
            }
            let mut made = 0;
            for (key, region) in lacking {
                match self.provision_one(&key, &region).await {
                    Ok(()) => made += 1,
                    Err(reason) => {
                        tracing::warn!(function = %key.0, qualifier = %key.1, %reason, "could not make a provisioned environment");
                        if let Some(t) = self.provisioned.targets().get_mut(&key) {
                            t.failure = Some(reason);
                        }
                    }
                }
            }
            if made == 0 {
                // Every attempt failed: the next pass (the reaper's tick) tries again.
                break;
            }
        }
        self.provisioned.running.store(false, Ordering::Release);
    }

    async fn provision_one(
        self: &Arc<Self>,
        key: &(String, String),
        region: &str,
    ) -> Result<(), String> {
        let (function, qualifier) = key;
        let version = if crate::resolve::is_alias(qualifier) {
            let routing = self
                .cache
                .routing(&*self.source, function, qualifier, region)
                .await
                .map_err(|e| e.to_string())?;
            routing.primary.clone()
        } else {
            qualifier.clone()
        };
        let (f, _) = self
            .cache
            .resolve(&*self.source, function, Some(&version), region)
            .await
            .map_err(|e| e.to_string())?;
        {
            let mut targets = self.provisioned.targets();
            let Some(t) = targets.get_mut(key) else {
                return Ok(());
            };
            if t.generation.as_ref() != Some(&f.generation) {
                t.generation = Some(f.generation.clone());
                t.allocated = Arc::new(AtomicU32::new(0));
            }
            if t.allocated.load(Ordering::Acquire) >= t.requested {
                return Ok(());
            }
        }
        // Counted once it is ready (passes run one at a time, so none is made twice): a
        // target is READY only when its environments can take invocations.
        match self.start_environment(&f, "provisioned", true).await {
            Ok(Claimed::Cold(mut env)) | Ok(Claimed::Warm(mut env)) => {
                let pool_key = PoolKey {
                    function: f.spec.name.as_str().into(),
                    version: f.spec.version.as_str().into(),
                    generation: f.generation.clone(),
                };
                {
                    let mut targets = self.provisioned.targets();
                    if let Some(t) = targets.get_mut(key) {
                        t.failure = None;
                        t.allocated.fetch_add(1, Ordering::AcqRel);
                        env.provisioned = Some(Slot {
                            key: key.clone(),
                            allocated: Arc::clone(&t.allocated),
                        });
                    }
                }
                self.pools.put(pool_key, env);
                Ok(())
            }
            Ok(Claimed::InitFailed { ending, .. }) => {
                // AWS compat: the StatusReason is the code alone; the detail is in the log.
                tracing::warn!(
                    function = %f.spec.name,
                    error = %String::from_utf8_lossy(&ending.payload),
                    "a provisioned environment's init failed"
                );
                Err("FUNCTION_ERROR_INIT_FAILURE".to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}
