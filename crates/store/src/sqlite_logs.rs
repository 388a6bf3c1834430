//! [`LogQueries`] on SQLite: `log_streams` for groups and streams, `log_events` for events.

use sqlx::Row;

use crate::log_queries::{EventQuery, LogGroupSummary, LogQueries, LogStreamSummary, StreamOrder};
use crate::sqlite::db;
use crate::{LogRecord, SqliteStore, StoreFuture};

fn limit_of(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl LogQueries for SqliteStore {
    fn log_groups<'a>(
        &'a self,
        prefix: Option<&'a str>,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<LogGroupSummary>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT log_group, min(created_ms), sum(bytes) FROM log_streams
                 WHERE log_group > ? AND (? IS NULL OR substr(log_group, 1, length(?)) = ?)
                 GROUP BY log_group ORDER BY log_group LIMIT ?",
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
                })
                .collect())
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
            Ok(rows
                .iter()
                .map(|r| LogStreamSummary {
                    name: r.get(0),
                    created_ms: r.get(1),
                    first_ms: r.get(2),
                    last_ms: r.get(3),
                    ingested_ms: r.get(4),
                    bytes: r.get(5),
                })
                .collect())
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
        assert_eq!(store.expire_logs(25).await.expect("expire"), 3);
        let left = store.log_groups(None, None, 10).await.expect("groups");
        assert_eq!(left.len(), 1, "{left:?}");
    }
}
