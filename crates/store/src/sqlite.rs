//! The embedded default backend: SQLite in WAL mode with full synchronous commits.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use nimbus_model::Function;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::{LogRecord, Store, StoreError, StoreFuture, Usage};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS functions (
    name        TEXT PRIMARY KEY NOT NULL,
    revision_id TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    code_size   INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    record      TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS log_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    log_group  TEXT NOT NULL,
    log_stream TEXT NOT NULL,
    ts_ms      INTEGER NOT NULL,
    message    TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS log_events_by_group ON log_events (log_group, id);
CREATE INDEX IF NOT EXISTS log_events_by_time ON log_events (ts_ms);
";

/// Function metadata in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { op, source }
}

fn decode(name: &str, record: &str) -> Result<Function, StoreError> {
    serde_json::from_str(record).map_err(|source| StoreError::Decode {
        name: name.to_string(),
        source,
    })
}

fn encode(f: &Function) -> String {
    serde_json::to_string(f).expect("a Function always serializes")
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
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(db("open"))?;
        sqlx::query(SCHEMA)
            .execute(&pool)
            .await
            .map_err(db("create schema"))?;
        Ok(Self { pool })
    }
}

impl Store for SqliteStore {
    fn create_function<'a>(&'a self, f: &'a Function) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let res = sqlx::query(
                "INSERT INTO functions (name, revision_id, code_sha256, code_size, updated_ms, record)
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
            )
            .bind(&f.name)
            .bind(&f.revision_id)
            .bind(&f.code.sha256_hex)
            .bind(i64::try_from(f.code.size).unwrap_or(i64::MAX))
            .bind(f.last_modified_ms)
            .bind(encode(f))
            .execute(&self.pool)
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
            let res = sqlx::query(
                "UPDATE functions SET revision_id = ?, code_sha256 = ?, code_size = ?, updated_ms = ?, record = ?
                 WHERE name = ? AND revision_id = ?",
            )
            .bind(&f.revision_id)
            .bind(&f.code.sha256_hex)
            .bind(i64::try_from(f.code.size).unwrap_or(i64::MAX))
            .bind(f.last_modified_ms)
            .bind(encode(f))
            .bind(&f.name)
            .bind(expected_revision)
            .execute(&self.pool)
            .await
            .map_err(db("update function"))?;
            if res.rows_affected() == 1 {
                return Ok(());
            }
            match self.get_function(&f.name).await? {
                Some(_) => Err(StoreError::RevisionMismatch(f.name.clone())),
                None => Err(StoreError::NotFound(f.name.clone())),
            }
        })
    }

    fn delete_function<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let res = sqlx::query("DELETE FROM functions WHERE name = ?")
                .bind(name)
                .execute(&self.pool)
                .await
                .map_err(db("delete function"))?;
            if res.rows_affected() == 0 {
                return Err(StoreError::NotFound(name.to_string()));
            }
            Ok(())
        })
    }

    fn code_in_use(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT DISTINCT code_sha256 FROM functions")
                .fetch_all(&self.pool)
                .await
                .map_err(db("list code in use"))?;
            Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
        })
    }

    fn usage(&self) -> StoreFuture<'_, Usage> {
        Box::pin(async move {
            let row = sqlx::query("SELECT COUNT(*), COALESCE(SUM(code_size), 0) FROM functions")
                .fetch_one(&self.pool)
                .await
                .map_err(db("usage"))?;
            Ok(Usage {
                function_count: u64::try_from(row.get::<i64, _>(0)).unwrap_or(0),
                total_code_size: u64::try_from(row.get::<i64, _>(1)).unwrap_or(0),
            })
        })
    }

    fn append_logs<'a>(&'a self, events: &'a [LogRecord]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(db("append logs"))?;
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
            let res = sqlx::query("DELETE FROM log_events WHERE ts_ms < ?")
                .bind(before_ms)
                .execute(&self.pool)
                .await
                .map_err(db("expire logs"))?;
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
            let records =
                sqlx::query("SELECT name, code_sha256, revision_id, record FROM functions")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("integrity check"))?;
            for r in &records {
                let name: String = r.get(0);
                match decode(&name, r.get::<&str, _>(3)) {
                    Ok(f) => {
                        if f.name != name
                            || f.code.sha256_hex != r.get::<String, _>(1)
                            || f.revision_id != r.get::<String, _>(2)
                        {
                            complaints
                                .push(format!("function {name}: columns disagree with record"));
                        }
                    }
                    Err(e) => complaints.push(format!("function {name}: {e}")),
                }
            }
            Ok(complaints)
        })
    }
}
