//! The embedded default backend: SQLite in WAL mode with full synchronous commits.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use futures_core::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use nimbus_model::policy::Policy;
use nimbus_model::{Alias, Function};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::{LogRecord, Store, StoreError, StoreFuture, Usage};

/// The schema's history, oldest first: each file runs once, in order, when a database is
/// opened (sqlx's migrator, which records in `_sqlx_migrations` what ran, with a checksum of
/// each file, and refuses a database that a newer release migrated further). Files are never
/// edited once released: a change is a new file.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "functions and logs",
        include_str!("../migrations/0001_functions_and_logs.sql"),
    ),
    (
        2,
        "reserved concurrency",
        include_str!("../migrations/0002_reserved_concurrency.sql"),
    ),
    (
        3,
        "function versions",
        include_str!("../migrations/0003_function_versions.sql"),
    ),
    (4, "aliases", include_str!("../migrations/0004_aliases.sql")),
    (
        5,
        "policies",
        include_str!("../migrations/0005_policies.sql"),
    ),
    (
        6,
        "async events",
        include_str!("../migrations/0006_async_events.sql"),
    ),
    (7, "queues", include_str!("../migrations/0007_queues.sql")),
    (
        8,
        "event source mappings",
        include_str!("../migrations/0008_event_source_mappings.sql"),
    ),
    (
        9,
        "function urls",
        include_str!("../migrations/0009_function_urls.sql"),
    ),
    (
        10,
        "schedules",
        include_str!("../migrations/0010_schedules.sql"),
    ),
    (
        11,
        "log streams",
        include_str!("../migrations/0011_log_streams.sql"),
    ),
    (
        12,
        "log groups",
        include_str!("../migrations/0012_log_groups.sql"),
    ),
    (
        13,
        "cost ledger",
        include_str!("../migrations/0013_cost_ledger.sql"),
    ),
];

/// [`MIGRATIONS`] as the migrator takes them (compiled in: no files to find at run time).
#[derive(Debug)]
struct Embedded;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Function metadata in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Readers (WAL: they never wait for the writer).
    pub(crate) pool: SqlitePool,
    /// The one connection every write goes through: writers queue for it in order, instead of
    /// meeting SQLite's lock and its busy handler's sleeps (milliseconds each).
    pub(crate) writer: SqlitePool,
}

pub(crate) fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { op, source }
}

/// A stored record (function, version, alias or policy) of function `name`.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    name: &str,
    record: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(record).map_err(|source| StoreError::Decode {
        name: name.to_string(),
        source,
    })
}

/// A record as stored. Records are plain data (strings, numbers, maps with string keys): they
/// always serialize.
pub(crate) fn encode<T: serde::Serialize>(record: &T) -> String {
    serde_json::to_string(record).expect("a stored record always serializes")
}

impl SqliteStore {
    /// Opens (creating) the database at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let url = format!("sqlite://{}", path.display());
        let opts = SqliteConnectOptions::from_str(&url)
            .map_err(db("parse database path"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Every acknowledged change survives a crash of the process and of the machine.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .map_err(db("open"))?;
        let migrator = Migrator::new(Embedded).await.map_err(StoreError::Migrate)?;
        migrator.run(&writer).await.map_err(StoreError::Migrate)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(db("open"))?;
        Ok(Self { pool, writer })
    }
}

/// Replaces `f`'s row if its revision is still `expected`; whether it did.
async fn conditional_update(
    conn: &mut sqlx::SqliteConnection,
    f: &Function,
    expected: &str,
) -> Result<bool, StoreError> {
    let res = sqlx::query(
        "UPDATE functions SET revision_id = ?, code_sha256 = ?, code_size = ?, updated_ms = ?, record = ?, reserved_concurrency = ?
         WHERE name = ? AND revision_id = ?",
    )
    .bind(&f.revision_id)
    .bind(&f.code.sha256_hex)
    .bind(i64::try_from(f.code.size).unwrap_or(i64::MAX))
    .bind(f.last_modified_ms)
    .bind(encode(f))
    .bind(f.reserved_concurrency.map(i64::from))
    .bind(&f.name)
    .bind(expected)
    .execute(conn)
    .await
    .map_err(db("update function"))?;
    Ok(res.rows_affected() == 1)
}

impl SqliteStore {
    /// Why a conditional update of `name` changed nothing: it changed meanwhile, or is gone.
    async fn why_not_updated(&self, name: &str) -> StoreError {
        match self.get_function(name).await {
            Ok(Some(_)) => StoreError::RevisionMismatch(name.to_string()),
            Ok(None) => StoreError::NotFound(name.to_string()),
            Err(e) => e,
        }
    }
}

impl Store for SqliteStore {
    fn create_function<'a>(&'a self, f: &'a Function) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let res = sqlx::query(
                "INSERT INTO functions (name, revision_id, code_sha256, code_size, updated_ms, record, reserved_concurrency)
                 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
            )
            .bind(&f.name)
            .bind(&f.revision_id)
            .bind(&f.code.sha256_hex)
            .bind(i64::try_from(f.code.size).unwrap_or(i64::MAX))
            .bind(f.last_modified_ms)
            .bind(encode(f))
            .bind(f.reserved_concurrency.map(i64::from))
            .execute(&self.writer)
            .await
            .map_err(db("insert function"))?;
            if res.rows_affected() == 0 {
                return Err(StoreError::AlreadyExists(f.name.clone()));
            }
            Ok(())
        })
    }

    fn get_function<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Function>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT record FROM functions WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(db("get function"))?;
            row.map(|r| decode(name, r.get::<&str, _>(0))).transpose()
        })
    }

    fn list_functions<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Function>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT name, record FROM functions WHERE name > ? ORDER BY name LIMIT ?",
            )
            .bind(after.unwrap_or(""))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db("list functions"))?;
            rows.iter()
                .map(|r| decode(r.get::<&str, _>(0), r.get::<&str, _>(1)))
                .collect()
        })
    }

    fn update_function<'a>(
        &'a self,
        f: &'a Function,
        expected_revision: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut conn = self.writer.acquire().await.map_err(db("update function"))?;
            if conditional_update(&mut conn, f, expected_revision).await? {
                return Ok(());
            }
            drop(conn);
            Err(self.why_not_updated(&f.name).await)
        })
    }

    fn publish_version<'a>(
        &'a self,
        snapshot: &'a Function,
        expected_revision: &'a str,
    ) -> StoreFuture<'a, u32> {
        Box::pin(async move {
            let name = &snapshot.name;
            let mut tx = self.writer.begin().await.map_err(db("publish version"))?;
            // Claims the next number first: the write makes this transaction the only writer.
            let row = sqlx::query(
                "UPDATE functions SET last_version = last_version + 1
                 WHERE name = ? AND revision_id = ? RETURNING last_version",
            )
            .bind(name)
            .bind(expected_revision)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("publish version"))?;
            let Some(row) = row else {
                drop(tx);
                return Err(self.why_not_updated(name).await);
            };
            let number = u32::try_from(row.get::<i64, _>(0)).map_err(|_| StoreError::Decode {
                name: name.clone(),
                source: serde::de::Error::custom("version number out of range"),
            })?;
            let mut version = snapshot.clone();
            version.version = Some(number);
            sqlx::query(
                "INSERT INTO function_versions (name, version, code_sha256, record) VALUES (?, ?, ?, ?)",
            )
            .bind(name)
            .bind(i64::from(number))
            .bind(&version.code.sha256_hex)
            .bind(encode(&version))
            .execute(&mut *tx)
            .await
            .map_err(db("publish version"))?;
            tx.commit().await.map_err(db("publish version"))?;
            Ok(number)
        })
    }

    fn newest_version<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Function>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT record FROM function_versions WHERE name = ? ORDER BY version DESC LIMIT 1",
            )
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("newest version"))?;
            row.map(|r| decode(name, r.get::<&str, _>(0))).transpose()
        })
    }

    fn get_version<'a>(&'a self, name: &'a str, number: u32) -> StoreFuture<'a, Option<Function>> {
        Box::pin(async move {
            let row =
                sqlx::query("SELECT record FROM function_versions WHERE name = ? AND version = ?")
                    .bind(name)
                    .bind(i64::from(number))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db("get version"))?;
            row.map(|r| decode(name, r.get::<&str, _>(0))).transpose()
        })
    }

    fn list_versions<'a>(
        &'a self,
        name: &'a str,
        after: u32,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Function>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT record FROM function_versions WHERE name = ? AND version > ? ORDER BY version LIMIT ?",
            )
            .bind(name)
            .bind(i64::from(after))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db("list versions"))?;
            rows.iter()
                .map(|r| decode(name, r.get::<&str, _>(0)))
                .collect()
        })
    }

    fn delete_version<'a>(&'a self, name: &'a str, number: u32) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut tx = self.writer.begin().await.map_err(db("delete version"))?;
            let res = sqlx::query("DELETE FROM function_versions WHERE name = ? AND version = ?")
                .bind(name)
                .bind(i64::from(number))
                .execute(&mut *tx)
                .await
                .map_err(db("delete version"))?;
            for table in ["policies", "event_invoke_configs", "function_urls"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE function = ? AND qualifier = ?"
                ))
                .bind(name)
                .bind(number.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db("delete version"))?;
            }
            tx.commit().await.map_err(db("delete version"))?;
            Ok(res.rows_affected() == 1)
        })
    }

    fn delete_function<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let res = sqlx::query("DELETE FROM functions WHERE name = ?")
                .bind(name)
                .execute(&self.writer)
                .await
                .map_err(db("delete function"))?;
            if res.rows_affected() == 0 {
                return Err(StoreError::NotFound(name.to_string()));
            }
            Ok(())
        })
    }

    fn create_alias<'a>(&'a self, alias: &'a Alias) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let res = sqlx::query(
                "INSERT INTO aliases (function, name, revision_id, record) VALUES (?, ?, ?, ?)
                 ON CONFLICT(function, name) DO NOTHING",
            )
            .bind(&alias.function)
            .bind(&alias.name)
            .bind(&alias.revision_id)
            .bind(encode(alias))
            .execute(&self.writer)
            .await;
            match res {
                Ok(r) if r.rows_affected() == 1 => Ok(()),
                Ok(_) => Err(StoreError::AlreadyExists(alias.name.clone())),
                // The function is gone (the foreign key).
                Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                    Err(StoreError::NotFound(alias.function.clone()))
                }
                Err(e) => Err(db("create alias")(e)),
            }
        })
    }

    fn get_alias<'a>(&'a self, function: &'a str, name: &'a str) -> StoreFuture<'a, Option<Alias>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT record FROM aliases WHERE function = ? AND name = ?")
                .bind(function)
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(db("get alias"))?;
            row.map(|r| decode(function, r.get::<&str, _>(0)))
                .transpose()
        })
    }

    fn list_aliases<'a>(
        &'a self,
        function: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Alias>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT record FROM aliases WHERE function = ? AND name > ? ORDER BY name LIMIT ?",
            )
            .bind(function)
            .bind(after.unwrap_or(""))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db("list aliases"))?;
            rows.iter()
                .map(|r| decode(function, r.get::<&str, _>(0)))
                .collect()
        })
    }

    fn update_alias<'a>(
        &'a self,
        alias: &'a Alias,
        expected_revision: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let res = sqlx::query(
                "UPDATE aliases SET revision_id = ?, record = ?
                 WHERE function = ? AND name = ? AND revision_id = ?",
            )
            .bind(&alias.revision_id)
            .bind(encode(alias))
            .bind(&alias.function)
            .bind(&alias.name)
            .bind(expected_revision)
            .execute(&self.writer)
            .await
            .map_err(db("update alias"))?;
            if res.rows_affected() == 1 {
                return Ok(());
            }
            match self.get_alias(&alias.function, &alias.name).await? {
                Some(_) => Err(StoreError::RevisionMismatch(alias.name.clone())),
                None => Err(StoreError::NotFound(alias.name.clone())),
            }
        })
    }

    fn delete_alias<'a>(&'a self, function: &'a str, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut tx = self.writer.begin().await.map_err(db("delete alias"))?;
            let res = sqlx::query("DELETE FROM aliases WHERE function = ? AND name = ?")
                .bind(function)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(db("delete alias"))?;
            for table in ["policies", "event_invoke_configs", "function_urls"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE function = ? AND qualifier = ?"
                ))
                .bind(function)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(db("delete alias"))?;
            }
            tx.commit().await.map_err(db("delete alias"))?;
            Ok(res.rows_affected() == 1)
        })
    }

    fn get_policy<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
    ) -> StoreFuture<'a, Option<Policy>> {
        Box::pin(async move {
            let row =
                sqlx::query("SELECT record FROM policies WHERE function = ? AND qualifier = ?")
                    .bind(function)
                    .bind(qualifier)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db("get policy"))?;
            row.map(|r| decode(function, r.get::<&str, _>(0)))
                .transpose()
        })
    }

    fn put_policy<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
        policy: &'a Policy,
        expected: Option<&'a str>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let record = encode(policy);
            let res = match (expected, policy.statements.is_empty()) {
                (None, true) => return Ok(()),
                (None, false) => sqlx::query(
                    "INSERT INTO policies (function, qualifier, revision_id, record) VALUES (?, ?, ?, ?)
                     ON CONFLICT(function, qualifier) DO NOTHING",
                )
                .bind(function)
                .bind(qualifier)
                .bind(&policy.revision_id)
                .bind(&record)
                .execute(&self.writer)
                .await,
                (Some(rev), true) => sqlx::query(
                    "DELETE FROM policies WHERE function = ? AND qualifier = ? AND revision_id = ?",
                )
                .bind(function)
                .bind(qualifier)
                .bind(rev)
                .execute(&self.writer)
                .await,
                (Some(rev), false) => sqlx::query(
                    "UPDATE policies SET revision_id = ?, record = ?
                     WHERE function = ? AND qualifier = ? AND revision_id = ?",
                )
                .bind(&policy.revision_id)
                .bind(&record)
                .bind(function)
                .bind(qualifier)
                .bind(rev)
                .execute(&self.writer)
                .await,
            };
            match res {
                Ok(r) if r.rows_affected() == 1 => Ok(()),
                Ok(_) => Err(StoreError::RevisionMismatch(function.to_string())),
                Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                    Err(StoreError::NotFound(function.to_string()))
                }
                Err(e) => Err(db("put policy")(e)),
            }
        })
    }

    fn code_in_use(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT code_sha256 FROM functions UNION SELECT code_sha256 FROM function_versions",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(db("list code in use"))?;
            Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
        })
    }

    fn usage(&self) -> StoreFuture<'_, Usage> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT COUNT(*),
                        COALESCE(SUM(code_size), 0)
                          + (SELECT COALESCE(SUM(json_extract(record, '$.code.size')), 0)
                             FROM function_versions),
                        COALESCE(SUM(reserved_concurrency), 0)
                 FROM functions",
            )
            .fetch_one(&self.pool)
            .await
            .map_err(db("usage"))?;
            Ok(Usage {
                function_count: u64::try_from(row.get::<i64, _>(0)).unwrap_or(0),
                total_code_size: u64::try_from(row.get::<i64, _>(1)).unwrap_or(0),
                reserved_concurrency: u64::try_from(row.get::<i64, _>(2)).unwrap_or(0),
            })
        })
    }

    fn append_logs<'a>(&'a self, events: &'a [LogRecord]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.writer.begin().await.map_err(db("append logs"))?;
            // Many rows a statement: one round trip to the database thread per 500 events.
            for chunk in events.chunks(500) {
                let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "INSERT INTO log_events (log_group, log_stream, ts_ms, message) ",
                );
                q.push_values(chunk, |mut row, e| {
                    row.push_bind(&e.group)
                        .push_bind(&e.stream)
                        .push_bind(e.timestamp_ms)
                        .push_bind(&e.message);
                });
                q.build()
                    .execute(&mut *tx)
                    .await
                    .map_err(db("append logs"))?;
            }
            // Each stream's summary, in the same transaction.
            let now = i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis()),
            )
            .unwrap_or(i64::MAX);
            let mut streams: std::collections::BTreeMap<(&str, &str), (i64, i64, i64)> =
                std::collections::BTreeMap::new();
            for e in events {
                let bytes = i64::try_from(e.message.len()).unwrap_or(i64::MAX);
                let s = streams
                    .entry((e.group.as_str(), e.stream.as_str()))
                    .or_insert((e.timestamp_ms, e.timestamp_ms, 0));
                s.0 = s.0.min(e.timestamp_ms);
                s.1 = s.1.max(e.timestamp_ms);
                s.2 += bytes;
            }
            for ((group, stream), (first, last, bytes)) in streams {
                sqlx::query(
                    "INSERT INTO log_streams (log_group, log_stream, created_ms, first_ms, last_ms, ingested_ms, bytes)
                     VALUES (?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT (log_group, log_stream) DO UPDATE SET
                         first_ms = min(first_ms, excluded.first_ms),
                         last_ms = max(last_ms, excluded.last_ms),
                         ingested_ms = excluded.ingested_ms,
                         bytes = bytes + excluded.bytes",
                )
                .bind(group)
                .bind(stream)
                .bind(first)
                .bind(first)
                .bind(last)
                .bind(now)
                .bind(bytes)
                .execute(&mut *tx)
                .await
                .map_err(db("append logs"))?;
            }
            tx.commit().await.map_err(db("append logs"))
        })
    }

    fn read_logs<'a>(
        &'a self,
        group: &'a str,
        since_ms: i64,
        after_id: i64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<LogRecord>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT id, log_stream, ts_ms, message FROM log_events
                 WHERE log_group = ? AND id > ? AND ts_ms >= ? ORDER BY id LIMIT ?",
            )
            .bind(group)
            .bind(after_id)
            .bind(since_ms)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db("read logs"))?;
            Ok(rows
                .iter()
                .map(|r| LogRecord {
                    id: r.get(0),
                    group: group.to_string(),
                    stream: r.get(1),
                    timestamp_ms: r.get(2),
                    message: r.get(3),
                })
                .collect())
        })
    }

    fn expire_logs(&self, before_ms: i64) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let mut tx = self.writer.begin().await.map_err(db("expire logs"))?;
            // Groups with a retention of their own keep theirs (see expire_group_logs).
            let res = sqlx::query(
                "DELETE FROM log_events WHERE ts_ms < ? AND log_group NOT IN
                     (SELECT name FROM log_groups WHERE retention_days IS NOT NULL)",
            )
            .bind(before_ms)
            .execute(&mut *tx)
            .await
            .map_err(db("expire logs"))?;
            // Streams left with no event go too.
            sqlx::query(
                "DELETE FROM log_streams WHERE max(last_ms, created_ms) < ? AND log_group NOT IN
                     (SELECT name FROM log_groups WHERE retention_days IS NOT NULL)",
            )
            .bind(before_ms)
            .execute(&mut *tx)
            .await
            .map_err(db("expire logs"))?;
            tx.commit().await.map_err(db("expire logs"))?;
            Ok(res.rows_affected())
        })
    }

    fn integrity_check(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let rows = sqlx::query("PRAGMA integrity_check")
                .fetch_all(&self.pool)
                .await
                .map_err(db("integrity check"))?;
            let mut complaints: Vec<String> = rows
                .iter()
                .map(|r| r.get::<String, _>(0))
                .filter(|s| s != "ok")
                .collect();
            let records = sqlx::query(
                "SELECT name, code_sha256, revision_id, record, reserved_concurrency FROM functions",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(db("integrity check"))?;
            for r in &records {
                let name: String = r.get(0);
                match decode::<Function>(&name, r.get::<&str, _>(3)) {
                    Ok(f) => {
                        if f.name != name
                            || f.code.sha256_hex != r.get::<String, _>(1)
                            || f.revision_id != r.get::<String, _>(2)
                            || f.reserved_concurrency.map(i64::from) != r.get::<Option<i64>, _>(4)
                        {
                            complaints
                                .push(format!("function {name}: columns disagree with record"));
                        }
                    }
                    Err(e) => complaints.push(format!("function {name}: {e}")),
                }
            }
            let versions =
                sqlx::query("SELECT name, version, code_sha256, record FROM function_versions")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("integrity check"))?;
            for r in &versions {
                let name: String = r.get(0);
                let number: i64 = r.get(1);
                match decode::<Function>(&name, r.get::<&str, _>(3)) {
                    Ok(v) => {
                        if v.name != name
                            || v.version.map(i64::from) != Some(number)
                            || v.code.sha256_hex != r.get::<String, _>(2)
                        {
                            complaints.push(format!(
                                "function {name} version {number}: columns disagree with record"
                            ));
                        }
                    }
                    Err(e) => complaints.push(format!("function {name} version {number}: {e}")),
                }
            }
            Ok(complaints)
        })
    }
}
