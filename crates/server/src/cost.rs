//! The cost ledger's server side: an engine observer that journals every invocation's billed
//! figures before its answer leaves, a task that folds the journal into the store's hourly
//! rows, and `GET /_nimbus/costs`, which prices them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use nimbus_engine::observe::{InvocationFigures, Observer};
use nimbus_model::LambdaError;
use nimbus_store::costs::{
    sum_rows, CostEntry, CostJournal, CostRow, CostStore, FREE_EPHEMERAL_MB,
};
use serde_json::{json, Value};

use crate::api::{json, query_pairs, query_param};
use crate::app::App;
use crate::config::PriceTable;
use crate::error::{ApiError, ApiResult};

/// The ledger: journal, store and the fold between them.
pub(crate) struct Ledger {
    journal: Arc<CostJournal>,
    store: Arc<dyn CostStore>,
    /// One fold at a time.
    folding: tokio::sync::Mutex<()>,
    /// Appends that failed (the disk full, say): invocations the ledger does not have.
    pub(crate) lost: AtomicU64,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Ledger {
    /// Opens the journal in `dir` where the store's position says the fold reached, and folds
    /// what the last run left.
    pub(crate) async fn open(
        dir: &std::path::Path,
        store: Arc<dyn CostStore>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Arc<Self>, ApiError> {
        let position = store.cost_position().await?;
        let journal = CostJournal::open(dir, position)
            .map_err(|e| ApiError::internal(format!("open the cost journal: {e}")))?;
        let ledger = Arc::new(Self {
            journal: Arc::new(journal),
            store,
            folding: tokio::sync::Mutex::new(()),
            lost: AtomicU64::new(0),
            metrics,
        });
        let folded = ledger.fold().await?;
        if folded > 0 {
            tracing::info!(
                invocations = folded,
                "cost journal: the last run's invocations folded"
            );
        }
        Ok(ledger)
    }

    /// Folds what the journal holds beyond the store's position; how many invocations.
    pub(crate) async fn fold(&self) -> Result<usize, ApiError> {
        let _one = self.folding.lock().await;
        let from = self.store.cost_position().await?;
        let journal = Arc::clone(&self.journal);
        let (entries, to) = tokio::task::spawn_blocking(move || journal.read_from(from))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::internal(format!("read the cost journal: {e}")))?;
        if to == from {
            return Ok(0);
        }
        let rows = sum_rows(entries.iter().map(CostRow::from));
        let began = std::time::Instant::now();
        self.store.fold_costs(&rows, from, to).await?;
        self.metrics
            .store_commit(crate::metrics::StoreWriter::Costs, began.elapsed());
        if let Err(e) = self.journal.remove_before(to) {
            tracing::warn!(error = %e, "cost journal: could not remove folded files");
        }
        Ok(entries.len())
    }

    /// Makes the journal durable every `every` (a power cut loses at most that much), on the
    /// blocking pool, until the server stops.
    pub(crate) fn spawn_syncing(self: &Arc<Self>, every: Duration) {
        self.spawn_every(every, |l| async move {
            let journal = Arc::clone(&l.journal);
            drop(l);
            match tokio::task::spawn_blocking(move || journal.sync()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "cost journal: sync failed"),
                Err(e) => tracing::warn!(error = %e, "cost journal: sync task failed"),
            }
        });
    }

    /// Folds every `every` until the server stops (and on the way out).
    pub(crate) fn spawn_folding(self: &Arc<Self>, every: Duration) {
        self.spawn_every(every, |l| async move {
            if let Err(e) = l.fold().await {
                tracing::warn!(error = %e, "cost journal: fold failed; retried next time");
            }
        });
    }

    /// Runs `step` every `every` while the ledger lives (late ticks are not made up).
    fn spawn_every<F, Fut>(self: &Arc<Self>, every: Duration, step: F)
    where
        F: Fn(Arc<Self>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let ledger = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(l) = ledger.upgrade() else { return };
                step(l).await;
            }
        });
    }
}

impl Observer for Ledger {
    fn invocation(&self, f: &InvocationFigures<'_>) {
        let entry = CostEntry {
            epoch_ms: f.epoch_ms,
            function: f.function.to_string(),
            version: f.version.to_string(),
            architecture: f.architecture.to_string(),
            provisioned: f.provisioned,
            memory_mb: f.memory_mb,
            billed_ms: f.billed_ms,
            ephemeral_mb: f.ephemeral_mb,
        };
        if let Err(e) = self.journal.append(&entry) {
            // Once per thousand, not once per invocation, while the disk stays full.
            let lost = self.lost.fetch_add(1, Ordering::Relaxed);
            if lost.is_multiple_of(1000) {
                tracing::error!(error = %e, lost = lost + 1, "cost journal: an invocation could not be recorded");
            }
        }
    }

    fn throttled(&self, _function: &str, _reason: &str) {}
}

/// How `GET /_nimbus/costs` groups the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Function,
    Version,
    Day,
}

/// Totals of some rows.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    requests: u64,
    mb_ms: u64,
    storage_mb_ms: u64,
    compute: f64,
}

impl Totals {
    fn add(&mut self, r: &CostRow, prices: &PriceTable) {
        self.requests = self.requests.saturating_add(r.requests);
        self.mb_ms = self.mb_ms.saturating_add(r.mb_ms);
        self.storage_mb_ms = self.storage_mb_ms.saturating_add(r.storage_mb_ms);
        self.compute += gb_seconds(r.mb_ms) * prices.gb_second(&r.architecture, r.provisioned);
    }

    fn wire(&self, prices: &PriceTable) -> Value {
        let requests = self.requests as f64 / 1e6 * prices.requests_per_million.0;
        let storage = gb_seconds(self.storage_mb_ms) * prices.ephemeral_gb_second.0;
        json!({
            "Requests": self.requests,
            "BilledMbMilliseconds": self.mb_ms,
            "GbSeconds": gb_seconds(self.mb_ms),
            "EphemeralStorageGbSeconds": gb_seconds(self.storage_mb_ms),
            "Cost": {
                "Requests": requests,
                "Compute": self.compute,
                "EphemeralStorage": storage,
                "Total": requests + self.compute + storage,
            },
        })
    }
}

/// MB-milliseconds as GB-seconds (Lambda's GB is 1,024 MB).
fn gb_seconds(mb_ms: u64) -> f64 {
    mb_ms as f64 / 1024.0 / 1000.0
}

fn day_of(hour_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(hour_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// `GET /_nimbus/costs?since=<epoch ms>&by=function|version|day`: the billed figures of the
/// hours from `since` (default: all), grouped and priced, with their total. The journal is
/// folded first, so every invocation answered so far is in.
pub(crate) async fn report(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let q = query_pairs(query.as_deref());
    let by = match query_param(&q, "by").unwrap_or("function") {
        "function" => By::Function,
        "version" => By::Version,
        "day" => By::Day,
        other => {
            return Err(LambdaError::invalid_parameter(format!(
                "by must be function, version or day, not '{other}'"
            ))
            .into())
        }
    };
    let since = match query_param(&q, "since") {
        None => 0,
        Some(s) => s.parse::<i64>().map_err(|_| {
            LambdaError::invalid_parameter(format!("since must be epoch milliseconds, not '{s}'"))
        })?,
    };
    app.ledger.fold().await?;
    // Whole hours: the one `since` falls in is counted from its start (times before 1970
    // are all of it).
    let hour = nimbus_store::costs::HOUR_MS;
    let from = since.max(0).div_euclid(hour) * hour;
    let rows = app.ledger.store.cost_rows(from).await?;
    let prices = &app.prices;
    let mut groups: BTreeMap<(String, String), Totals> = BTreeMap::new();
    let mut total = Totals::default();
    for r in &rows {
        let key = match by {
            By::Function => (r.function.clone(), String::new()),
            By::Version => (r.function.clone(), r.version.clone()),
            By::Day => (day_of(r.hour_ms), String::new()),
        };
        groups.entry(key).or_default().add(r, prices);
        total.add(r, prices);
    }
    let groups: Vec<Value> = groups
        .iter()
        .map(|((a, b), t)| {
            let mut v = t.wire(prices);
            match by {
                By::Function => v["Function"] = json!(a),
                By::Version => {
                    v["Function"] = json!(a);
                    v["Version"] = json!(b);
                }
                By::Day => v["Day"] = json!(a),
            }
            v
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({
            "Since": since,
            "By": match by { By::Function => "function", By::Version => "version", By::Day => "day" },
            "Currency": prices.currency,
            "Prices": prices.wire(),
            "FreeEphemeralStorageMb": FREE_EPHEMERAL_MB,
            "Groups": groups,
            "Total": total.wire(prices),
            "Unrecorded": app.ledger.lost.load(Ordering::Relaxed),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gb_seconds_use_lambdas_gb() {
        assert!((gb_seconds(1_024_000) - 1.0).abs() < 1e-12);
        assert_eq!(day_of(1_764_683_100_000), "2025-12-02");
    }

    #[test]
    fn compute_is_priced_by_architecture_and_kind() {
        let prices = PriceTable::default();
        let row = |arch: &str, provisioned| CostRow {
            architecture: arch.into(),
            provisioned,
            requests: 1_000_000,
            mb_ms: 1_024_000 * 1000,
            ..CostRow::default()
        };
        let mut t = Totals::default();
        t.add(&row("x86_64", false), &prices);
        assert!((t.compute - 0.016_666_7).abs() < 1e-9, "{}", t.compute);
        let mut arm = Totals::default();
        arm.add(&row("arm64", false), &prices);
        assert!((arm.compute - 0.013_333_4).abs() < 1e-9);
        let mut p = Totals::default();
        p.add(&row("x86_64", true), &prices);
        assert!((p.compute - 0.009_722_2).abs() < 1e-9);
        let w = t.wire(&prices);
        assert_eq!(w["Requests"], 1_000_000);
        assert!((w["Cost"]["Requests"].as_f64().unwrap_or(0.0) - 0.2).abs() < 1e-12);
    }
}
