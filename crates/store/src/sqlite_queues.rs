//! [`QueueStore`] on SQLite. Every write that reads first runs in a `BEGIN IMMEDIATE`
//! transaction: it holds SQLite's one write lock from its first statement, so a receive's
//! choice of messages and its claim of them are one step no other receive can interleave with.

use std::collections::BTreeMap;

use rand::RngCore;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::queues::{
    NewMessage, QueueCounts, QueueFuture, QueueRecord, QueueStore, QueueStoreError, QueueWrite,
    QueueWritten, Receipt, Receive, Received, Sent, StoredMessage, VisibilityChange,
};
use crate::sqlite::db;
use crate::{SqliteStore, StoreError};

/// What the `record` column of `queues` holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct QueueColumns {
    attributes: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
}

fn decode_err(name: &str, source: serde_json::Error) -> QueueStoreError {
    QueueStoreError::Store(StoreError::Decode {
        name: name.to_string(),
        source,
    })
}

fn queue_from_row(r: &SqliteRow) -> Result<QueueRecord, QueueStoreError> {
    let name: String = r.get("name");
    let cols: QueueColumns =
        serde_json::from_str(r.get::<&str, _>("record")).map_err(|e| decode_err(&name, e))?;
    Ok(QueueRecord {
        fifo: r.get::<i64, _>("fifo") != 0,
        created_ms: r.get("created_ms"),
        modified_ms: r.get("modified_ms"),
        attributes: cols.attributes,
        tags: cols.tags,
        name,
    })
}

const MESSAGE_COLUMNS: &str = "id, message_id, body, record, seq, sent_ms, visible_at, receive_count, first_receive_ms, receipt, source_queue";

fn message_from_row(r: &SqliteRow) -> Result<StoredMessage, QueueStoreError> {
    let message_id: String = r.get("message_id");
    let record =
        serde_json::from_str(r.get::<&str, _>("record")).map_err(|e| decode_err(&message_id, e))?;
    Ok(StoredMessage {
        id: r.get("id"),
        body: r.get("body"),
        record,
        sequence_number: r.get("seq"),
        sent_ms: r.get("sent_ms"),
        visible_at: r.get("visible_at"),
        receive_count: u32::try_from(r.get::<i64, _>("receive_count")).unwrap_or(u32::MAX),
        first_receive_ms: r.get("first_receive_ms"),
        receipt: r.get("receipt"),
        source_queue: r.get("source_queue"),
        message_id,
    })
}

fn token() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The queue's row in `conn`'s transaction; `QueueNotFound` if there is none.
async fn queue_in(conn: &mut SqliteConnection, name: &str) -> Result<SqliteRow, QueueStoreError> {
    sqlx::query(
        "SELECT name, fifo, created_ms, modified_ms, next_seq, record FROM queues WHERE name = ?",
    )
    .bind(name)
    .fetch_optional(conn)
    .await
    .map_err(db("read queue"))?
    .ok_or_else(|| QueueStoreError::QueueNotFound(name.to_string()))
}

/// Sends `messages` to `queue` within `conn`'s transaction; `QueueNotFound` (before anything
/// is written) if there is no such queue.
async fn send_in(
    conn: &mut SqliteConnection,
    queue: &str,
    messages: &[NewMessage],
    now_ms: i64,
    dedup_ms: i64,
) -> Result<Vec<Sent>, QueueStoreError> {
    let row = queue_in(&mut *conn, queue).await?;
    let fifo = row.get::<i64, _>("fifo") != 0;
    let mut next_seq: i64 = row.get("next_seq");
    if fifo {
        sqlx::query("DELETE FROM queue_dedup WHERE queue = ? AND expires_ms <= ?")
            .bind(queue)
            .bind(now_ms)
            .execute(&mut *conn)
            .await
            .map_err(db("send messages"))?;
    }
    let mut sent = Vec::with_capacity(messages.len());
    for m in messages {
        let dedup = m.record.dedup_id.as_deref().filter(|_| fifo);
        if let Some(d) = dedup {
            let original = sqlx::query(
                "SELECT message_id, seq FROM queue_dedup WHERE queue = ? AND dedup_id = ?",
            )
            .bind(queue)
            .bind(d)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db("send messages"))?;
            if let Some(o) = original {
                sent.push(Sent {
                    message_id: o.get("message_id"),
                    sequence_number: Some(o.get("seq")),
                    duplicate: true,
                });
                continue;
            }
        }
        let seq = fifo.then(|| {
            next_seq += 1;
            next_seq - 1
        });
        let record = serde_json::to_string(&m.record).map_err(|e| decode_err(&m.message_id, e))?;
        sqlx::query(
            "INSERT INTO queue_messages (queue, message_id, body, record, group_id, seq, sent_ms, visible_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(queue)
        .bind(&m.message_id)
        .bind(&m.body)
        .bind(record)
        .bind(m.record.group_id.as_deref())
        .bind(seq)
        .bind(now_ms)
        .bind(now_ms.saturating_add(m.delay_ms.max(0)))
        .execute(&mut *conn)
        .await
        .map_err(db("send messages"))?;
        if let (Some(d), Some(s)) = (dedup, seq) {
            sqlx::query(
                "INSERT INTO queue_dedup (queue, dedup_id, expires_ms, message_id, seq) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(queue)
            .bind(d)
            .bind(now_ms.saturating_add(dedup_ms))
            .bind(&m.message_id)
            .bind(s)
            .execute(&mut *conn)
            .await
            .map_err(db("send messages"))?;
        }
        sent.push(Sent {
            message_id: m.message_id.clone(),
            sequence_number: seq,
            duplicate: false,
        });
    }
    if fifo {
        sqlx::query("UPDATE queues SET next_seq = ? WHERE name = ?")
            .bind(next_seq)
            .bind(queue)
            .execute(&mut *conn)
            .await
            .map_err(db("send messages"))?;
    }
    Ok(sent)
}

/// Claims up to `r.max` messages of `queue` within `conn`'s transaction.
async fn receive_in(
    conn: &mut SqliteConnection,
    queue: &str,
    r: &Receive,
) -> Result<Received, QueueStoreError> {
    let now = r.now_ms;
    queue_in(&mut *conn, queue).await?;
    sqlx::query("DELETE FROM queue_messages WHERE queue = ? AND sent_ms < ?")
        .bind(queue)
        .bind(now.saturating_sub(r.retention_ms))
        .execute(&mut *conn)
        .await
        .map_err(db("receive messages"))?;
    // The dead-letter queue, if it (still) exists.
    let dead_letter = match &r.dead_letter {
        Some(d) if d.queue != queue => {
            let exists = sqlx::query("SELECT 1 FROM queues WHERE name = ?")
                .bind(&d.queue)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db("receive messages"))?
                .is_some();
            exists.then_some(d)
        }
        _ => None,
    };
    let mut out = Received::default();
    // Each round takes the candidates still wanted; a round that only moved messages to
    // the dead-letter queue makes room for another.
    loop {
        let want = r.max.saturating_sub(out.messages.len());
        if want == 0 {
            break;
        }
        let candidates = if r.fifo {
            sqlx::query(
                "SELECT m.id, m.receive_count FROM queue_messages m
                 WHERE m.queue = ?1 AND m.visible_at <= ?2 AND NOT EXISTS (
                     SELECT 1 FROM queue_messages f
                     WHERE f.queue = ?1 AND f.group_id IS m.group_id
                       AND f.receipt IS NOT NULL AND f.visible_at > ?2)
                 ORDER BY m.id LIMIT ?3",
            )
        } else {
            sqlx::query(
                "SELECT id, receive_count FROM queue_messages
                 WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, id LIMIT ?3",
            )
        }
        .bind(queue)
        .bind(now)
        // A message claimed by this receive with no visibility timeout is visible
        // again: it is passed over, never claimed twice.
        .bind(limit(want + out.messages.len()))
        .fetch_all(&mut *conn)
        .await
        .map_err(db("receive messages"))?;
        let moved_before = out.moved_to_dead_letter;
        for c in &candidates {
            let id: i64 = c.get(0);
            let count: i64 = c.get(1);
            if out.messages.len() >= r.max || out.messages.iter().any(|m| m.id == id) {
                continue;
            }
            if let Some(d) = dead_letter.filter(|d| count >= i64::from(d.max_receive_count)) {
                sqlx::query(
                    "UPDATE queue_messages SET queue = ?, visible_at = ?, receipt = NULL, source_queue = ? WHERE id = ?",
                )
                .bind(&d.queue)
                .bind(now)
                .bind(queue)
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(db("receive messages"))?;
                out.moved_to_dead_letter += 1;
                continue;
            }
            let row = sqlx::query(&format!(
                "UPDATE queue_messages SET receive_count = receive_count + 1,
                     first_receive_ms = COALESCE(first_receive_ms, ?), visible_at = ?, receipt = ?
                 WHERE id = ? RETURNING {MESSAGE_COLUMNS}"
            ))
            .bind(now)
            .bind(now.saturating_add(r.visibility_ms.max(0)))
            .bind(token())
            .bind(id)
            .fetch_one(&mut *conn)
            .await
            .map_err(db("receive messages"))?;
            out.messages.push(message_from_row(&row)?);
        }
        if out.moved_to_dead_letter == moved_before {
            break;
        }
    }
    out.next_visible_ms = sqlx::query(
        "SELECT MIN(visible_at) FROM queue_messages WHERE queue = ? AND visible_at > ?",
    )
    .bind(queue)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(db("receive messages"))?
    .get(0);
    Ok(out)
}

/// Deletes the messages of `receipts` within `conn`'s transaction.
async fn delete_in(
    conn: &mut SqliteConnection,
    queue: &str,
    receipts: &[Receipt],
) -> Result<Vec<bool>, QueueStoreError> {
    queue_in(&mut *conn, queue).await?;
    let mut out = Vec::with_capacity(receipts.len());
    for r in receipts {
        let res =
            sqlx::query("DELETE FROM queue_messages WHERE queue = ? AND id = ? AND receipt = ?")
                .bind(queue)
                .bind(r.id)
                .bind(&r.token)
                .execute(&mut *conn)
                .await
                .map_err(db("delete messages"))?;
        out.push(res.rows_affected() == 1);
    }
    Ok(out)
}

/// Changes the visibility of the messages of `changes` within `conn`'s transaction.
async fn change_in(
    conn: &mut SqliteConnection,
    queue: &str,
    changes: &[(Receipt, i64)],
    now_ms: i64,
) -> Result<Vec<VisibilityChange>, QueueStoreError> {
    queue_in(&mut *conn, queue).await?;
    let mut out = Vec::with_capacity(changes.len());
    for (r, visible_at) in changes {
        let row = sqlx::query(
            "SELECT visible_at FROM queue_messages WHERE queue = ? AND id = ? AND receipt = ?",
        )
        .bind(queue)
        .bind(r.id)
        .bind(&r.token)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("change visibility"))?;
        let outcome = match row.map(|row| row.get::<i64, _>(0)) {
            None => VisibilityChange::NotFound,
            Some(v) if v <= now_ms => VisibilityChange::NotInFlight,
            Some(_) => {
                sqlx::query("UPDATE queue_messages SET visible_at = ? WHERE id = ?")
                    .bind(visible_at)
                    .bind(r.id)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("change visibility"))?;
                VisibilityChange::Changed
            }
        };
        out.push(outcome);
    }
    Ok(out)
}

impl SqliteStore {
    /// Reads, changes and writes back the record of queue `name` in one write transaction.
    async fn modify_queue(
        &self,
        name: &str,
        modified_ms: Option<i64>,
        change: impl FnOnce(&mut QueueRecord),
    ) -> Result<QueueRecord, QueueStoreError> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db("modify queue"))?;
        let mut q = queue_from_row(&queue_in(&mut tx, name).await?)?;
        change(&mut q);
        if let Some(ms) = modified_ms {
            q.modified_ms = ms;
        }
        let record = serde_json::to_string(&QueueColumns {
            attributes: q.attributes.clone(),
            tags: q.tags.clone(),
        })
        .map_err(|e| decode_err(name, e))?;
        sqlx::query("UPDATE queues SET record = ?, modified_ms = ? WHERE name = ?")
            .bind(record)
            .bind(q.modified_ms)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db("modify queue"))?;
        tx.commit().await.map_err(db("modify queue"))?;
        Ok(q)
    }
}

impl QueueStore for SqliteStore {
    fn create_queue<'a>(&'a self, queue: &'a QueueRecord) -> QueueFuture<'a, Option<QueueRecord>> {
        Box::pin(async move {
            let record = serde_json::to_string(&QueueColumns {
                attributes: queue.attributes.clone(),
                tags: queue.tags.clone(),
            })
            .map_err(|e| decode_err(&queue.name, e))?;
            let res = sqlx::query(
                "INSERT INTO queues (name, fifo, created_ms, modified_ms, record) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT(name) DO NOTHING",
            )
            .bind(&queue.name)
            .bind(i64::from(queue.fifo))
            .bind(queue.created_ms)
            .bind(queue.modified_ms)
            .bind(record)
            .execute(&self.writer)
            .await
            .map_err(db("create queue"))?;
            if res.rows_affected() == 1 {
                return Ok(None);
            }
            match self.get_queue(&queue.name).await? {
                Some(existing) => Ok(Some(existing)),
                // Deleted in between: create it after all.
                None => self.create_queue(queue).await,
            }
        })
    }

    fn get_queue<'a>(&'a self, name: &'a str) -> QueueFuture<'a, Option<QueueRecord>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT name, fifo, created_ms, modified_ms, record FROM queues WHERE name = ?",
            )
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get queue"))?;
            row.as_ref().map(queue_from_row).transpose()
        })
    }

    fn list_queues<'a>(
        &'a self,
        prefix: &'a str,
        after: Option<&'a str>,
        limit_n: usize,
    ) -> QueueFuture<'a, Vec<QueueRecord>> {
        Box::pin(async move {
            // A prefix range rather than LIKE: names may hold `_`, LIKE's wildcard.
            let rows = sqlx::query(
                "SELECT name, fifo, created_ms, modified_ms, record FROM queues
                 WHERE name > ? AND substr(name, 1, length(?)) = ? ORDER BY name LIMIT ?",
            )
            .bind(after.unwrap_or(""))
            .bind(prefix)
            .bind(prefix)
            .bind(limit(limit_n))
            .fetch_all(&self.pool)
            .await
            .map_err(db("list queues"))?;
            rows.iter().map(queue_from_row).collect()
        })
    }

    fn set_queue_attributes<'a>(
        &'a self,
        name: &'a str,
        attributes: &'a BTreeMap<String, String>,
        modified_ms: i64,
    ) -> QueueFuture<'a, QueueRecord> {
        Box::pin(async move {
            self.modify_queue(name, Some(modified_ms), |q| {
                for (k, v) in attributes {
                    if v.is_empty() {
                        q.attributes.remove(k);
                    } else {
                        q.attributes.insert(k.clone(), v.clone());
                    }
                }
            })
            .await
        })
    }

    fn tag_queue<'a>(
        &'a self,
        name: &'a str,
        tags: &'a BTreeMap<String, String>,
        remove: &'a [String],
    ) -> QueueFuture<'a, QueueRecord> {
        Box::pin(async move {
            self.modify_queue(name, None, |q| {
                for k in remove {
                    q.tags.remove(k);
                }
                q.tags
                    .extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            })
            .await
        })
    }

    fn delete_queue<'a>(&'a self, name: &'a str) -> QueueFuture<'a, bool> {
        Box::pin(async move {
            let res = sqlx::query("DELETE FROM queues WHERE name = ?")
                .bind(name)
                .execute(&self.writer)
                .await
                .map_err(db("delete queue"))?;
            Ok(res.rows_affected() == 1)
        })
    }

    fn send_messages<'a>(
        &'a self,
        queue: &'a str,
        messages: &'a [NewMessage],
        now_ms: i64,
        dedup_ms: i64,
    ) -> QueueFuture<'a, Vec<Sent>> {
        Box::pin(async move {
            let mut tx = self
                .writer
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(db("send messages"))?;
            let sent = send_in(&mut tx, queue, messages, now_ms, dedup_ms).await?;
            tx.commit().await.map_err(db("send messages"))?;
            Ok(sent)
        })
    }

    fn apply_many<'a>(
        &'a self,
        writes: &'a [QueueWrite],
        now_ms: i64,
    ) -> QueueFuture<'a, Vec<Result<QueueWritten, QueueStoreError>>> {
        Box::pin(async move {
            let mut tx = self
                .writer
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(db("apply queue writes"))?;
            let mut out = Vec::with_capacity(writes.len());
            for w in writes {
                // Each write in a savepoint of its own: one that fails (a missing queue, a
                // record that does not decode) leaves nothing behind and fails alone.
                sqlx::query("SAVEPOINT queue_write")
                    .execute(&mut *tx)
                    .await
                    .map_err(db("apply queue writes"))?;
                let done = match w {
                    QueueWrite::Send {
                        queue,
                        messages,
                        dedup_ms,
                    } => send_in(&mut tx, queue, messages, now_ms, *dedup_ms)
                        .await
                        .map(QueueWritten::Sent),
                    QueueWrite::Receive { queue, receive } => {
                        let r = Receive {
                            now_ms,
                            ..receive.clone()
                        };
                        receive_in(&mut tx, queue, &r)
                            .await
                            .map(QueueWritten::Received)
                    }
                    QueueWrite::Delete { queue, receipts } => delete_in(&mut tx, queue, receipts)
                        .await
                        .map(QueueWritten::Deleted),
                    QueueWrite::ChangeVisibility { queue, changes } => {
                        change_in(&mut tx, queue, changes, now_ms)
                            .await
                            .map(QueueWritten::VisibilityChanged)
                    }
                };
                let done = match done {
                    // The database failed: the whole transaction is rolled back.
                    Err(e @ QueueStoreError::Store(StoreError::Database { .. })) => return Err(e),
                    other => other,
                };
                if done.is_err() {
                    sqlx::query("ROLLBACK TO queue_write")
                        .execute(&mut *tx)
                        .await
                        .map_err(db("apply queue writes"))?;
                }
                sqlx::query("RELEASE queue_write")
                    .execute(&mut *tx)
                    .await
                    .map_err(db("apply queue writes"))?;
                out.push(done);
            }
            tx.commit().await.map_err(db("apply queue writes"))?;
            Ok(out)
        })
    }

    fn receive_messages<'a>(&'a self, queue: &'a str, r: &'a Receive) -> QueueFuture<'a, Received> {
        Box::pin(async move {
            let mut tx = self
                .writer
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(db("receive messages"))?;
            let out = receive_in(&mut tx, queue, r).await?;
            tx.commit().await.map_err(db("receive messages"))?;
            Ok(out)
        })
    }

    fn delete_messages<'a>(
        &'a self,
        queue: &'a str,
        receipts: &'a [Receipt],
    ) -> QueueFuture<'a, Vec<bool>> {
        Box::pin(async move {
            let mut tx = self
                .writer
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(db("delete messages"))?;
            let out = delete_in(&mut tx, queue, receipts).await?;
            tx.commit().await.map_err(db("delete messages"))?;
            Ok(out)
        })
    }

    fn change_visibility<'a>(
        &'a self,
        queue: &'a str,
        changes: &'a [(Receipt, i64)],
        now_ms: i64,
    ) -> QueueFuture<'a, Vec<VisibilityChange>> {
        Box::pin(async move {
            let mut tx = self
                .writer
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(db("change visibility"))?;
            let out = change_in(&mut tx, queue, changes, now_ms).await?;
            tx.commit().await.map_err(db("change visibility"))?;
            Ok(out)
        })
    }

    fn purge_queue<'a>(&'a self, queue: &'a str) -> QueueFuture<'a, u64> {
        Box::pin(async move {
            let mut tx = self
                .writer
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(db("purge queue"))?;
            queue_in(&mut tx, queue).await?;
            let res = sqlx::query("DELETE FROM queue_messages WHERE queue = ?")
                .bind(queue)
                .execute(&mut *tx)
                .await
                .map_err(db("purge queue"))?;
            tx.commit().await.map_err(db("purge queue"))?;
            Ok(res.rows_affected())
        })
    }

    fn peek_messages<'a>(
        &'a self,
        queue: &'a str,
        after_id: i64,
        limit_n: usize,
    ) -> QueueFuture<'a, Vec<StoredMessage>> {
        Box::pin(async move {
            if self.get_queue(queue).await?.is_none() {
                return Err(QueueStoreError::QueueNotFound(queue.to_string()));
            }
            let rows = sqlx::query(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM queue_messages WHERE queue = ? AND id > ? ORDER BY id LIMIT ?"
            ))
            .bind(queue)
            .bind(after_id)
            .bind(limit(limit_n))
            .fetch_all(&self.pool)
            .await
            .map_err(db("peek messages"))?;
            rows.iter().map(message_from_row).collect()
        })
    }

    fn queue_counts<'a>(
        &'a self,
        queue: &'a str,
        now_ms: i64,
        retention_ms: i64,
    ) -> QueueFuture<'a, QueueCounts> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT
                    COALESCE(SUM(visible_at <= ?1), 0),
                    COALESCE(SUM(visible_at > ?1 AND receipt IS NOT NULL), 0),
                    COALESCE(SUM(visible_at > ?1 AND receipt IS NULL), 0)
                 FROM queue_messages WHERE queue = ?2 AND sent_ms >= ?3",
            )
            .bind(now_ms)
            .bind(queue)
            .bind(now_ms.saturating_sub(retention_ms))
            .fetch_one(&self.pool)
            .await
            .map_err(db("count messages"))?;
            let n = |i: usize| u64::try_from(row.get::<i64, _>(i)).unwrap_or(0);
            Ok(QueueCounts {
                visible: n(0),
                in_flight: n(1),
                delayed: n(2),
            })
        })
    }

    fn redrive<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
        unsourced: bool,
        now_ms: i64,
    ) -> QueueFuture<'a, u64> {
        Box::pin(async move {
            let mut tx = self
                .writer
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(db("redrive"))?;
            queue_in(&mut tx, from).await?;
            queue_in(&mut tx, to).await?;
            let res = sqlx::query(
                "UPDATE queue_messages SET queue = ?1, visible_at = ?2, receive_count = 0,
                     first_receive_ms = NULL, receipt = NULL, source_queue = NULL
                 WHERE queue = ?3 AND (source_queue = ?1 OR (?4 AND source_queue IS NULL))",
            )
            .bind(to)
            .bind(now_ms)
            .bind(from)
            .bind(unsourced)
            .execute(&mut *tx)
            .await
            .map_err(db("redrive"))?;
            tx.commit().await.map_err(db("redrive"))?;
            Ok(res.rows_affected())
        })
    }
}
