//! `App`: the state every request shares, and the background steps that move a function from
//! `Pending`/`InProgress` to `Active`/`Successful`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use nimbus_model::{Function, LastUpdateStatus, State};
use nimbus_store::code::CodeStore;
use nimbus_store::{Store, StoreError};
use tokio::sync::RwLock;

use crate::auth::Credentials;
use crate::error::ApiError;

/// Shared server state.
pub(crate) struct App {
    /// Every write goes through here and reaches the engine's configuration cache.
    pub(crate) store: Arc<dyn Store>,
    pub(crate) log_writer: crate::logs::LogWriter,
    pub(crate) code: CodeStore,
    /// Held shared from storing a package until the metadata that uses it is committed, and
    /// exclusively while an unused package is removed, so removal never races a new user.
    pub(crate) code_lock: RwLock<()>,
    pub(crate) keys: Vec<Credentials>,
    /// Temporary credentials of execution environments.
    pub(crate) sessions: Arc<crate::sessions::Sessions>,
    pub(crate) account: String,
    pub(crate) url_key: [u8; 32],
    pub(crate) code_url_ttl_seconds: u64,
    pub(crate) concurrent_executions: u32,
    pub(crate) unreserved_minimum: u32,
    /// Held while reservations change (PutFunctionConcurrency and the like, DeleteFunction):
    /// the check against the unreserved minimum and the engine's unreserved limit always see
    /// every committed reservation.
    pub(crate) reservations: tokio::sync::Mutex<()>,
    /// Held while aliases are written and versions deleted: an alias never routes to a version
    /// that a concurrent deletion removes.
    pub(crate) aliasing: tokio::sync::Mutex<()>,
    pub(crate) engine: Arc<nimbus_engine::Engine>,
    /// The durable queue of asynchronous invocations and their configurations.
    pub(crate) events: Arc<dyn nimbus_store::EventStore>,
    /// Accepts events into it (group commit).
    pub(crate) event_queue: crate::async_invoke::EventQueue,
    /// SQS queues and their messages.
    pub(crate) queue_store: Arc<dyn nimbus_store::QueueStore>,
    /// Long polls waiting on queues, woken by sends.
    pub(crate) queue_waiters: crate::sqs::Waiters,
    /// The pollers of event source mappings.
    pub(crate) pollers: crate::esm::Pollers,
    /// Held while mappings are written (one mapping per function and queue).
    pub(crate) mapping_writes: tokio::sync::Mutex<()>,
    /// Group commit of queue writes.
    pub(crate) queue_sends: crate::sqs::Committer,
    /// When queues were last purged (one PurgeQueue a minute).
    pub(crate) queue_purges: crate::sqs::Purges,
    /// Function URL configurations.
    pub(crate) urls: Arc<dyn nimbus_store::UrlStore>,
    /// `function_urls.url`: the URL handed out, `{id}`, `{region}` and `{port}` to fill in.
    pub(crate) url_template: String,
    /// The port function URLs are served on (0: they are not served).
    pub(crate) url_port: u16,
    /// What URL requests need of the store, in memory.
    pub(crate) url_cache: Arc<crate::urls::UrlCache>,
    /// EventBridge Scheduler's schedules and groups.
    pub(crate) schedules: Arc<dyn nimbus_store::ScheduleStore>,
    /// The task that fires them.
    pub(crate) scheduler: crate::scheduler::Scheduler,
    /// The stored logs, as the CloudWatch Logs API reads them.
    pub(crate) log_queries: Arc<dyn nimbus_store::LogQueries>,
    /// `log_retention_days`: every log group's retention.
    pub(crate) log_retention_days: u32,
    /// Prometheus metrics, counted by the engine's observer.
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    /// `metrics.token`: the bearer token scrapers may send.
    pub(crate) metrics_token: Option<String>,
    /// The cost ledger, told of every invocation by the engine's observer.
    pub(crate) ledger: Arc<crate::cost::Ledger>,
    /// What the ledger's figures are priced at.
    pub(crate) prices: crate::config::PriceTable,
    /// The exporter of Active-tracing invocations' spans, when `[traces]` names an endpoint.
    pub(crate) tracer: Option<Arc<crate::traces::Tracer>>,
}

impl App {
    /// The URL clients use for `u`.
    pub(crate) fn url_of(&self, u: &nimbus_model::url::FunctionUrlConfig) -> String {
        self.url_template
            .replace("{id}", &u.url_id)
            .replace("{region}", &u.region)
            .replace("{port}", &self.url_port.to_string())
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn new_revision() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl App {
    /// Finishes a create or update in the background: the function becomes `Active` and its
    /// last update `Successful` once its code package is in place. A function whose package
    /// is missing becomes `Failed`, never `Active`.
    pub(crate) fn activate(self: &Arc<Self>, name: String) {
        let app = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = app.finish_pending(&name).await {
                tracing::error!(function = %name, error = %e, "activation failed");
            }
        });
    }

    pub(crate) async fn finish_pending(&self, name: &str) -> Result<(), ApiError> {
        // A concurrent change moves the revision on; re-read and decide again.
        for _ in 0..16 {
            let Some(f) = self.store.get_function(name).await? else {
                return Ok(());
            };
            let pending =
                f.state == State::Pending || f.last_update == Some(LastUpdateStatus::InProgress);
            if !pending {
                return Ok(());
            }
            let ready = self.code.contains(&f.code.sha256_hex);
            let next = Function {
                state: if ready { State::Active } else { State::Failed },
                last_update: Some(if ready {
                    LastUpdateStatus::Successful
                } else {
                    LastUpdateStatus::Failed
                }),
                revision_id: new_revision(),
                ..f.clone()
            };
            match self.store.update_function(&next, &f.revision_id).await {
                Ok(()) if ready => {
                    // What the launcher makes of the package (the sandbox launcher's read-only
                    // image) is made now, in the background, not by its first cold start,
                    // whose Init Duration the caller pays (one that comes first waits for it).
                    let (engine, dir) = (
                        Arc::clone(&self.engine),
                        self.code.package_dir(&f.code.sha256_hex),
                    );
                    tokio::task::spawn_blocking(move || engine.prepare_code(&dir));
                    return Ok(());
                }
                Ok(()) => return Ok(()),
                Err(StoreError::RevisionMismatch(_)) => continue,
                Err(StoreError::NotFound(_)) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::internal(format!(
            "function {name} kept changing during activation"
        )))
    }

    /// Tells the engine the concurrency left unreserved, from what the store holds. Called at
    /// start and, under [`App::reservations`], after every change of a reservation.
    pub(crate) async fn sync_unreserved(&self) -> Result<(), ApiError> {
        let reserved = self.store.usage().await?.reserved_concurrency;
        self.engine
            .set_unreserved_concurrency(self.unreserved_after(reserved));
        Ok(())
    }

    /// The account's concurrency less `reserved`.
    pub(crate) fn unreserved_after(&self, reserved: u64) -> u32 {
        u32::try_from(u64::from(self.concurrent_executions).saturating_sub(reserved)).unwrap_or(0)
    }

    /// Changes function `name` by `change` in one conditional write, again from a fresh read
    /// whenever another write came in between: concurrent writers never lose an update. The
    /// change sees the stored function and returns the next one (its revision is renewed here;
    /// a change that changes nothing is not written, and the revision stays); the result is the
    /// function replaced and its successor, `None` if there is no function.
    pub(crate) async fn modify_function<F>(
        &self,
        name: &str,
        mut change: F,
    ) -> Result<Option<(Function, Function)>, ApiError>
    where
        F: FnMut(&Function) -> Result<Function, ApiError>,
    {
        for _ in 0..64 {
            let Some(f) = self.store.get_function(name).await? else {
                return Ok(None);
            };
            let mut next = change(&f)?;
            if next == f {
                return Ok(Some((f, next)));
            }
            next.revision_id = new_revision();
            match self.store.update_function(&next, &f.revision_id).await {
                Ok(()) => return Ok(Some((f, next))),
                Err(StoreError::RevisionMismatch(_)) => continue,
                Err(StoreError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::internal(format!(
            "function {name} kept changing under 64 attempts to write it"
        )))
    }

    /// Removes the package `sha256_hex` if no function uses it any more, and with it every other
    /// unused one. A package a live environment still runs is kept until that environment ends
    /// (the engine announces it then, and this runs again: [`App::remove_freed_code`]).
    pub(crate) async fn release_code(&self, sha256_hex: &str) -> Result<(), ApiError> {
        let _exclusive = self.code_lock.write().await;
        let in_use = self.store.code_in_use().await?;
        if in_use.iter().any(|s| s == sha256_hex) {
            return Ok(());
        }
        let mut keep: std::collections::HashSet<String> = in_use.into_iter().collect();
        let code = self.code.clone();
        let listed = tokio::task::spawn_blocking(move || code.list())
            .await
            .map_err(ApiError::internal)??;
        let unused: Vec<std::path::PathBuf> = listed
            .iter()
            .filter(|sha| !keep.contains(*sha))
            .map(|sha| self.code.package_dir(sha))
            .collect();
        let leases = self.engine.code_leases();
        let held = leases.hold_back(&unused);
        for dir in &held {
            if let Some(sha) = dir.file_name().and_then(|n| n.to_str()) {
                keep.insert(sha.to_string());
            }
        }
        let gone: Vec<std::path::PathBuf> = unused
            .iter()
            .filter(|d| !held.contains(*d))
            .cloned()
            .collect();
        let (code, engine) = (self.code.clone(), Arc::clone(&self.engine));
        // Unmounting what the launcher kept of them, and removing their files, is disk work.
        let removed = tokio::task::spawn_blocking(move || {
            for dir in &gone {
                engine.code_removed(dir);
            }
            code.collect_garbage(&keep)
        })
        .await;
        leases.removed(&unused);
        removed.map_err(ApiError::internal)??;
        Ok(())
    }

    /// Removes, as they are announced, the packages [`App::release_code`] had to keep for a
    /// live environment. Runs for the server's life.
    pub(crate) async fn remove_freed_code(
        self: Arc<Self>,
        mut freed: tokio::sync::mpsc::UnboundedReceiver<std::path::PathBuf>,
    ) {
        while let Some(dir) = freed.recv().await {
            let Some(sha) = dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            match self.release_code(sha).await {
                Ok(()) => tracing::debug!(package = sha, "package freed by its last environment"),
                Err(e) => tracing::warn!(package = sha, error = %e, "remove a freed package"),
            }
        }
    }
}
