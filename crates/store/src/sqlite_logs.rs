//! [`LogQueries`] on SQLite: `log_streams` for groups and streams, `log_events` for events.

use sqlx::Row;

use crate::log_queries::{EventQuery, LogGroupSummary, LogQueries, LogStreamSummary, StreamOrder};
use crate::sqlite::db;
use crate::{LogRecord, SqliteStore, StoreError, StoreFuture};

/// The columns `log_stream, created_ms, first_ms, last_ms, ingested_ms, bytes`, as a stream.
fn stream_of(r: &sqlx::sqlite::SqliteRow) -> LogStreamSummary {
    LogStreamSummary {
        name: r.get(0),
        created_ms: r.get(1),
        first_ms: r.get(2),
        last_ms: r.get(3),
        ingested_ms: r.get(4),
        bytes: r.get(5),
    }
}

fn limit_of(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl LogQueries for SqliteStore {
    fn create_log_group<'a>(&'a self, name: &'a str, created_ms: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.writer.begin().await.map_err(db("create log group"))?;
            let written: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM log_streams WHERE log_group = ? LIMIT 1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db("create log group"))?;
            let made = sqlx::query(
                "INSERT INTO log_groups (name, created_ms) VALUES (?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(name)
            .bind(created_ms)
            .execute(&mut *tx)
            .await
            .map_err(db("create log group"))?;
            if written.is_some() || made.rows_affected() == 0 {
                return Err(StoreError::AlreadyExists(name.to_string()));
            }
            tx.commit().await.map_err(db("create log group"))
        })
    }

    fn delete_log_group<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut tx = self.writer.begin().await.map_err(db("delete log group"))?;
            let mut any = false;
            for sql in [
                "DELETE FROM log_groups WHERE name = ?",
                "DELETE FROM log_streams WHERE log_group = ?",
                "DELETE FROM log_events WHERE log_group = ?",
            ] {
                let res = sqlx::query(sql)
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("delete log group"))?;
                any |= res.rows_affected() > 0;
            }
            tx.commit().await.map_err(db("delete log group"))?;
            Ok(any)
        })
    }

    fn set_log_retention<'a>(
        &'a self,
        name: &'a str,
        days: Option<u32>,
        now_ms: i64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.writer.begin().await.map_err(db("set log retention"))?;
            let created: Option<i64> = sqlx::query_scalar(
                "SELECT min(created) FROM (
                     SELECT created_ms AS created FROM log_streams WHERE log_group = ?
                     UNION ALL SELECT created_ms FROM log_groups WHERE name = ?)",
            )
            .bind(name)
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("set log retention"))?;
            if created.is_none() {
                return Err(StoreError::NotFound(name.to_string()));
            }
            sqlx::query(
                "INSERT INTO log_groups (name, created_ms, retention_days) VALUES (?, ?, ?)
                 ON CONFLICT (name) DO UPDATE SET retention_days = excluded.retention_days",
            )
            .bind(name)
            .bind(created.unwrap_or(now_ms))
            .bind(days.map(i64::from))
            .execute(&mut *tx)
            .await
            .map_err(db("set log retention"))?;
            tx.commit().await.map_err(db("set log retention"))
        })
    }

    fn log_retentions(&self) -> StoreFuture<'_, Vec<(String, u32)>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT name, retention_days FROM log_groups WHERE retention_days IS NOT NULL",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(db("log retentions"))?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    let days: i64 = r.get(1);
                    Some((r.get(0), u32::try_from(days).ok()?))
                })
                .collect())
        })
    }

    fn expire_group_logs<'a>(&'a self, group: &'a str, before_ms: i64) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let mut tx = self.writer.begin().await.map_err(db("expire group logs"))?;
            let res = sqlx::query("DELETE FROM log_events WHERE log_group = ? AND ts_ms < ?")
                .bind(group)
                .bind(before_ms)
                .execute(&mut *tx)
                .await
                .map_err(db("expire group logs"))?;
            // Streams left with no event go too (an empty one once it is as old).
            sqlx::query(
                "DELETE FROM log_streams WHERE log_group = ? AND max(last_ms, created_ms) < ?",
            )
            .bind(group)
            .bind(before_ms)
            .execute(&mut *tx)
            .await
            .map_err(db("expire group logs"))?;
            tx.commit().await.map_err(db("expire group logs"))?;
            Ok(res.rows_affected())
        })
    }

    fn log_groups<'a>(
        &'a self,
        prefix: Option<&'a str>,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<LogGroupSummary>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT name, min(created), sum(bytes), max(retention) FROM (
                     SELECT log_group AS name, created_ms AS created, bytes, NULL AS retention FROM log_streams
                     UNION ALL
                     SELECT name, created_ms, 0, retention_days FROM log_groups)
                 WHERE name > ? AND (? IS NULL OR substr(name, 1, length(?)) = ?)
                 GROUP BY name ORDER BY name LIMIT ?",
            )
            .bind(after.unwrap_or(""))
            .bind(prefix)
            .bind(prefix)
            .bind(prefix)
            .bind(limit_of(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db("list log groups"))?;
            Ok(rows
                .iter()
                .map(|r| LogGroupSummary {
                    name: r.get(0),
                    created_ms: r.get(1),
                    bytes: r.get(2),
                    retention_days: r
                        .get::<Option<i64>, _>(3)
                        .and_then(|d| u32::try_from(d).ok()),
                })
                .collect())
        })
    }

    fn create_log_stream<'a>(
        &'a self,
        group: &'a str,
        stream: &'a str,
        created_ms: i64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let op = "create log stream";
            let mut tx = self.writer.begin().await.map_err(db(op))?;
            let group_found: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM log_groups WHERE name = ?
                 UNION ALL SELECT 1 FROM log_streams WHERE log_group = ? LIMIT 1",
            )
            .bind(group)
            .bind(group)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(op))?;
            if group_found.is_none() {
                return Err(StoreError::NotFound(group.to_string()));
            }
            // No event yet: first and last at the ends of time, so that the first append's
            // min and max set them.
            let made = sqlx::query(
                "INSERT INTO log_streams (log_group, log_stream, created_ms, first_ms, last_ms, ingested_ms, bytes)
                 VALUES (?, ?, ?, ?, ?, 0, 0) ON CONFLICT DO NOTHING",
            )
            .bind(group)
            .bind(stream)
            .bind(created_ms)
            .bind(i64::MAX)
            .bind(i64::MIN)
            .execute(&mut *tx)
            .await
            .map_err(db(op))?;
            if made.rows_affected() == 0 {
                return Err(StoreError::AlreadyExists(stream.to_string()));
            }
            tx.commit().await.map_err(db(op))
        })
    }

    fn delete_log_stream<'a>(&'a self, group: &'a str, stream: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let op = "delete log stream";
            let mut tx = self.writer.begin().await.map_err(db(op))?;
            let gone =
                sqlx::query("DELETE FROM log_streams WHERE log_group = ? AND log_stream = ?")
                    .bind(group)
                    .bind(stream)
                    .execute(&mut *tx)
                    .await
                    .map_err(db(op))?;
            sqlx::query("DELETE FROM log_events WHERE log_group = ? AND log_stream = ?")
                .bind(group)
                .bind(stream)
                .execute(&mut *tx)
                .await
                .map_err(db(op))?;
            tx.commit().await.map_err(db(op))?;
            Ok(gone.rows_affected() > 0)
        })
    }

    fn log_stream<'a>(
        &'a self,
        group: &'a str,
        stream: &'a str,
    ) -> StoreFuture<'a, Option<LogStreamSummary>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT log_stream, created_ms, first_ms, last_ms, ingested_ms, bytes FROM log_streams
                 WHERE log_group = ? AND log_stream = ?",
            )
            .bind(group)
            .bind(stream)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("read log stream"))?;
            Ok(row.as_ref().map(stream_of))
        })
    }

    fn log_streams<'a>(
        &'a self,
        group: &'a str,
        prefix: Option<&'a str>,
        order: StreamOrder,
        descending: bool,
        offset: usize,
        limit: usize,
    ) -> StoreFuture<'a, Vec<LogStreamSummary>> {
        Box::pin(async move {
            let dir = if descending { "DESC" } else { "ASC" };
            let order = match order {
                StreamOrder::Name => format!("log_stream {dir}"),
                StreamOrder::LastEvent => format!("last_ms {dir}, log_stream {dir}"),
            };
            let rows = sqlx::query(&format!(
                "SELECT log_stream, created_ms, first_ms, last_ms, ingested_ms, bytes FROM log_streams
                 WHERE log_group = ? AND (? IS NULL OR substr(log_stream, 1, length(?)) = ?)
                 ORDER BY {order} LIMIT ? OFFSET ?"
            ))
            .bind(group)
            .bind(prefix)
            .bind(prefix)
            .bind(prefix)
            .bind(limit_of(limit))
            .bind(limit_of(offset))
            .fetch_all(&self.pool)
            .await
            .map_err(db("list log streams"))?;
            Ok(rows.iter().map(stream_of).collect())
        })
    }

    fn log_events<'a>(
        &'a self,
        group: &'a str,
        q: &'a EventQuery,
        limit: usize,
    ) -> StoreFuture<'a, Vec<LogRecord>> {
        Box::pin(async move {
            let mut b = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "SELECT id, log_stream, ts_ms, message FROM log_events WHERE log_group = ",
            );
            b.push_bind(group);
            if let Some(streams) = &q.streams {
                if streams.is_empty() {
                    return Ok(Vec::new());
                }
                b.push(" AND log_stream IN (");
                let mut sep = b.separated(", ");
                for s in streams {
                    sep.push_bind(s);
                }
                b.push(")");
            }
            if let Some(p) = &q.stream_prefix {
                b.push(" AND substr(log_stream, 1, length(")
                    .push_bind(p)
                    .push(")) = ")
                    .push_bind(p);
            }
            if let Some(t) = q.start_ms {
                b.push(" AND ts_ms >= ").push_bind(t);
            }
            if let Some(t) = q.end_ms {
                b.push(" AND ts_ms < ").push_bind(t);
            }
            if let Some(id) = q.after_id {
                b.push(" AND id > ").push_bind(id);
            }
            if let Some(id) = q.before_id {
                b.push(" AND id < ").push_bind(id);
            }
            b.push(if q.newest {
                " ORDER BY id DESC LIMIT "
            } else {
                " ORDER BY id LIMIT "
            })
            .push_bind(limit_of(limit));
            let rows = b
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(db("read log events"))?;
            let mut out: Vec<LogRecord> = rows
                .iter()
                .map(|r| LogRecord {
                    id: r.get(0),
                    group: group.to_string(),
                    stream: r.get(1),
                    timestamp_ms: r.get(2),
                    message: r.get(3),
                })
                .collect();
            if q.newest {
                out.reverse();
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn rec(group: &str, stream: &str, ts: i64, message: &str) -> LogRecord {
        LogRecord {
            id: 0,
            group: group.into(),
            stream: stream.into(),
            timestamp_ms: ts,
            message: message.into(),
        }
    }

    #[tokio::test]
    async fn groups_streams_and_events_are_read_as_the_logs_api_needs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("nimbus.db"))
            .await
            .expect("open");
        store
            .append_logs(&[
                rec("/aws/lambda/a", "s1", 10, "one"),
                rec("/aws/lambda/a", "s1", 20, "two"),
                rec("/aws/lambda/a", "s2", 30, "three"),
                rec("/aws/lambda/b", "s9", 5, "other"),
            ])
            .await
            .expect("append");
        store
            .append_logs(&[rec("/aws/lambda/a", "s1", 40, "four")])
            .await
            .expect("append");
        let groups = store
            .log_groups(Some("/aws/lambda/"), None, 10)
            .await
            .expect("groups");
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].bytes, 3 + 3 + 5 + 4);
        assert_eq!(
            store
                .log_groups(None, Some("/aws/lambda/a"), 10)
                .await
                .expect("after")[0]
                .name,
            "/aws/lambda/b"
        );
        let streams = store
            .log_streams("/aws/lambda/a", None, StreamOrder::LastEvent, true, 0, 10)
            .await
            .expect("streams");
        assert_eq!(streams[0].name, "s1");
        assert_eq!((streams[0].first_ms, streams[0].last_ms), (10, 40));
        let page = store
            .log_streams("/aws/lambda/a", None, StreamOrder::Name, false, 1, 1)
            .await
            .expect("page");
        assert_eq!(page[0].name, "s2");
        let newest = EventQuery {
            streams: Some(vec!["s1".into()]),
            newest: true,
            ..EventQuery::default()
        };
        let last_two: Vec<String> = store
            .log_events("/aws/lambda/a", &newest, 2)
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(last_two, ["two", "four"]);
        let window = EventQuery {
            start_ms: Some(20),
            end_ms: Some(40),
            ..EventQuery::default()
        };
        let got: Vec<String> = store
            .log_events("/aws/lambda/a", &window, 10)
            .await
            .expect("window")
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(got, ["two", "three"]);
        // A group of its own retention keeps its events past the default's.
        store
            .set_log_retention("/aws/lambda/b", Some(30), 0)
            .await
            .expect("retention");
        assert_eq!(store.expire_logs(25).await.expect("expire"), 2);
        let left = store.log_groups(None, None, 10).await.expect("groups");
        assert_eq!(left.len(), 2, "{left:?}");
        assert_eq!(left[1].retention_days, Some(30));
        assert_eq!(
            store.log_retentions().await.expect("r"),
            [("/aws/lambda/b".to_string(), 30)]
        );
        assert_eq!(
            store
                .expire_group_logs("/aws/lambda/b", 25)
                .await
                .expect("group"),
            1
        );
        // Made groups: a name taken (made or written) is refused; deletion takes everything.
        store.create_log_group("/made", 7).await.expect("create");
        assert!(matches!(
            store.create_log_group("/made", 7).await,
            Err(StoreError::AlreadyExists(_))
        ));
        assert!(matches!(
            store.create_log_group("/aws/lambda/a", 7).await,
            Err(StoreError::AlreadyExists(_))
        ));
        assert!(matches!(
            store.set_log_retention("/nope", Some(1), 0).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(store
            .delete_log_group("/aws/lambda/a")
            .await
            .expect("delete"));
        assert!(store
            .log_events("/aws/lambda/a", &EventQuery::default(), 10)
            .await
            .expect("events")
            .is_empty());
        assert!(!store
            .delete_log_group("/aws/lambda/a")
            .await
            .expect("again"));
    }
}
