//! [`EventStore`] on SQLite: the `async_events` and `event_invoke_configs` tables.

use nimbus_model::esm::EventSourceMapping;
use nimbus_model::event_invoke::EventInvokeConfig;
use sqlx::Row;

use crate::events::{EventStore, EventWrites, NewEvent, StoredEvent};
use crate::sqlite::{db, decode, encode};
use crate::{SqliteStore, StoreError, StoreFuture};

/// Rows a statement inserts: SQLite binds at most 32,766 parameters, ten a row.
const INSERT_CHUNK: usize = 500;

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn stored(row: &sqlx::sqlite::SqliteRow) -> StoredEvent {
    StoredEvent {
        id: row.get("id"),
        event: NewEvent {
            function: row.get("function"),
            qualifier: row.get("qualifier"),
            region: row.get("region"),
            request_id: row.get("request_id"),
            payload: row.get("payload"),
            client_context: row.get("client_context"),
            trace_header: row.get("trace_header"),
            enqueued_ms: row.get("enqueued_ms"),
            chain: count(row.get("chain")),
        },
        attempts: count(row.get("attempts")),
        throttles: count(row.get("throttles")),
    }
}

impl EventStore for SqliteStore {
    fn write_events<'a>(&'a self, w: &'a EventWrites) -> StoreFuture<'a, Vec<StoredEvent>> {
        Box::pin(async move {
            if w.is_empty() {
                return Ok(Vec::new());
            }
            let mut tx = self.writer.begin().await.map_err(db("write events"))?;
            for chunk in w.enqueue.chunks(INSERT_CHUNK) {
                let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "INSERT INTO async_events (function, qualifier, region, request_id, payload, client_context, trace_header, enqueued_ms, due_ms, chain) ",
                );
                q.push_values(chunk, |mut row, e| {
                    row.push_bind(&e.function)
                        .push_bind(&e.qualifier)
                        .push_bind(&e.region)
                        .push_bind(&e.request_id)
                        .push_bind(&e.payload)
                        .push_bind(&e.client_context)
                        .push_bind(&e.trace_header)
                        .push_bind(e.enqueued_ms)
                        .push_bind(e.enqueued_ms)
                        .push_bind(i64::from(e.chain));
                });
                q.build()
                    .execute(&mut *tx)
                    .await
                    .map_err(db("enqueue events"))?;
            }
            // One statement per chunk: `UPDATE ... FROM (VALUES ...)`.
            for chunk in w.reschedule.chunks(INSERT_CHUNK) {
                let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "WITH v(id, due_ms, attempts, throttles) AS (",
                );
                q.push_values(chunk, |mut row, r| {
                    row.push_bind(r.id)
                        .push_bind(r.due_ms)
                        .push_bind(i64::from(r.attempts))
                        .push_bind(i64::from(r.throttles));
                });
                q.push(
                    ") UPDATE async_events SET leased = 0, due_ms = v.due_ms, attempts = v.attempts,
                     throttles = v.throttles FROM v WHERE async_events.id = v.id",
                );
                q.build()
                    .execute(&mut *tx)
                    .await
                    .map_err(db("reschedule events"))?;
            }
            for chunk in w.delete.chunks(INSERT_CHUNK) {
                let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "DELETE FROM async_events WHERE id IN (",
                );
                let mut ids = q.separated(", ");
                for id in chunk {
                    ids.push_bind(*id);
                }
                q.push(")");
                q.build()
                    .execute(&mut *tx)
                    .await
                    .map_err(db("delete events"))?;
            }
            let mut claimed = Vec::new();
            if let Some(c) = w.claim.filter(|c| c.limit > 0) {
                let rows = sqlx::query(
                    "UPDATE async_events SET leased = 1
                     WHERE id IN (SELECT id FROM async_events WHERE leased = 0 AND due_ms <= ?
                                  ORDER BY due_ms, id LIMIT ?)
                     RETURNING *",
                )
                .bind(c.now_ms)
                .bind(limit(c.limit))
                .fetch_all(&mut *tx)
                .await
                .map_err(db("claim events"))?;
                claimed = rows.iter().map(stored).collect();
                // RETURNING does not keep the subquery's order.
                claimed.sort_by_key(|e: &StoredEvent| (e.event.enqueued_ms, e.id));
            }
            tx.commit().await.map_err(db("write events"))?;
            Ok(claimed)
        })
    }

    fn release_event_claims(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let res = sqlx::query("UPDATE async_events SET leased = 0 WHERE leased = 1")
                .execute(&self.writer)
                .await
                .map_err(db("release event claims"))?;
            Ok(res.rows_affected())
        })
    }

    fn next_event_due(&self) -> StoreFuture<'_, Option<i64>> {
        Box::pin(async move {
            sqlx::query_scalar("SELECT MIN(due_ms) FROM async_events WHERE leased = 0")
                .fetch_one(&self.pool)
                .await
                .map_err(db("next event due"))
        })
    }

    fn count_events<'a>(&'a self, function: Option<&'a str>) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let n: i64 = match function {
                Some(f) => {
                    sqlx::query_scalar("SELECT COUNT(*) FROM async_events WHERE function = ?")
                        .bind(f)
                        .fetch_one(&self.pool)
                        .await
                }
                None => {
                    sqlx::query_scalar("SELECT COUNT(*) FROM async_events")
                        .fetch_one(&self.pool)
                        .await
                }
            }
            .map_err(db("count events"))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn get_event_invoke_config<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
    ) -> StoreFuture<'a, Option<EventInvokeConfig>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT record FROM event_invoke_configs WHERE function = ? AND qualifier = ?",
            )
            .bind(function)
            .bind(qualifier)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get event invoke config"))?;
            row.map(|r| decode(function, r.get::<&str, _>(0)))
                .transpose()
        })
    }

    fn put_event_invoke_config<'a>(&'a self, config: &'a EventInvokeConfig) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let res = sqlx::query(
                "INSERT INTO event_invoke_configs (function, qualifier, record) VALUES (?, ?, ?)
                 ON CONFLICT(function, qualifier) DO UPDATE SET record = excluded.record",
            )
            .bind(&config.function)
            .bind(&config.qualifier)
            .bind(encode(config))
            .execute(&self.writer)
            .await;
            match res {
                Ok(_) => Ok(()),
                Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                    Err(StoreError::NotFound(config.function.clone()))
                }
                Err(e) => Err(db("put event invoke config")(e)),
            }
        })
    }

    fn delete_event_invoke_config<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let res = sqlx::query(
                "DELETE FROM event_invoke_configs WHERE function = ? AND qualifier = ?",
            )
            .bind(function)
            .bind(qualifier)
            .execute(&self.writer)
            .await
            .map_err(db("delete event invoke config"))?;
            Ok(res.rows_affected() == 1)
        })
    }

    fn put_mapping<'a>(&'a self, m: &'a EventSourceMapping) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let res = sqlx::query(
                "INSERT INTO event_source_mappings (uuid, function, source_arn, record) VALUES (?, ?, ?, ?)
                 ON CONFLICT(uuid) DO UPDATE SET function = excluded.function,
                 source_arn = excluded.source_arn, record = excluded.record",
            )
            .bind(&m.uuid)
            .bind(&m.function)
            .bind(&m.source_arn)
            .bind(encode(m))
            .execute(&self.writer)
            .await;
            match res {
                Ok(_) => Ok(()),
                Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                    Err(StoreError::NotFound(m.function.clone()))
                }
                Err(e) => Err(db("put event source mapping")(e)),
            }
        })
    }

    fn get_mapping<'a>(&'a self, uuid: &'a str) -> StoreFuture<'a, Option<EventSourceMapping>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT record FROM event_source_mappings WHERE uuid = ?")
                .bind(uuid)
                .fetch_optional(&self.pool)
                .await
                .map_err(db("get event source mapping"))?;
            row.map(|r| decode(uuid, r.get::<&str, _>(0))).transpose()
        })
    }

    fn list_mappings<'a>(
        &'a self,
        function: Option<&'a str>,
        source: Option<&'a str>,
        after: Option<&'a str>,
        n: usize,
    ) -> StoreFuture<'a, Vec<EventSourceMapping>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT uuid, record FROM event_source_mappings
                 WHERE uuid > ? AND (? IS NULL OR function = ?) AND (? IS NULL OR source_arn = ?)
                 ORDER BY uuid LIMIT ?",
            )
            .bind(after.unwrap_or(""))
            .bind(function)
            .bind(function)
            .bind(source)
            .bind(source)
            .bind(limit(n))
            .fetch_all(&self.pool)
            .await
            .map_err(db("list event source mappings"))?;
            rows.iter()
                .map(|r| decode(r.get::<&str, _>(0), r.get::<&str, _>(1)))
                .collect()
        })
    }

    fn delete_mapping<'a>(&'a self, uuid: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let res = sqlx::query("DELETE FROM event_source_mappings WHERE uuid = ?")
                .bind(uuid)
                .execute(&self.writer)
                .await
                .map_err(db("delete event source mapping"))?;
            Ok(res.rows_affected() == 1)
        })
    }

    fn list_event_invoke_configs<'a>(
        &'a self,
        function: &'a str,
        after: Option<&'a str>,
        n: usize,
    ) -> StoreFuture<'a, Vec<EventInvokeConfig>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT record FROM event_invoke_configs WHERE function = ? AND qualifier > ?
                 ORDER BY qualifier LIMIT ?",
            )
            .bind(function)
            .bind(after.unwrap_or(""))
            .bind(limit(n))
            .fetch_all(&self.pool)
            .await
            .map_err(db("list event invoke configs"))?;
            rows.iter()
                .map(|r| decode(function, r.get::<&str, _>(0)))
                .collect()
        })
    }
}
