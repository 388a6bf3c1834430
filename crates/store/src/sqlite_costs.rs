//! [`CostStore`] on SQLite: `cost_hours` and the journal position in `cost_journal`.

use sqlx::Row;

use crate::costs::{CostRow, CostStore, JournalPosition};
use crate::sqlite::db;
use crate::{SqliteStore, StoreError, StoreFuture};

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn uint(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

async fn position_in(
    conn: &mut sqlx::SqliteConnection,
    op: &'static str,
) -> Result<JournalPosition, StoreError> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT generation, byte_offset FROM cost_journal WHERE id = 1")
            .fetch_optional(conn)
            .await
            .map_err(db(op))?;
    Ok(
        row.map_or_else(JournalPosition::default, |(g, o)| JournalPosition {
            generation: uint(g),
            offset: uint(o),
        }),
    )
}

impl CostStore for SqliteStore {
    fn cost_position(&self) -> StoreFuture<'_, JournalPosition> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await.map_err(db("cost position"))?;
            position_in(&mut conn, "cost position").await
        })
    }

    fn fold_costs<'a>(
        &'a self,
        rows: &'a [CostRow],
        from: JournalPosition,
        to: JournalPosition,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let op = "fold costs";
            let mut tx = self.writer.begin().await.map_err(db(op))?;
            if position_in(&mut tx, op).await? != from {
                // Folded meanwhile by another writer of this data directory.
                return Err(StoreError::Conflict("the cost journal's position".into()));
            }
            for r in rows {
                sqlx::query(
                    "INSERT INTO cost_hours (function, version, hour_ms, architecture, provisioned, requests, mb_ms, storage_mb_ms)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT (function, version, hour_ms, architecture, provisioned) DO UPDATE SET
                       requests = requests + excluded.requests,
                       mb_ms = mb_ms + excluded.mb_ms,
                       storage_mb_ms = storage_mb_ms + excluded.storage_mb_ms",
                )
                .bind(&r.function)
                .bind(&r.version)
                .bind(r.hour_ms)
                .bind(&r.architecture)
                .bind(i64::from(r.provisioned))
                .bind(int(r.requests))
                .bind(int(r.mb_ms))
                .bind(int(r.storage_mb_ms))
                .execute(&mut *tx)
                .await
                .map_err(db(op))?;
            }
            sqlx::query(
                "INSERT INTO cost_journal (id, generation, byte_offset) VALUES (1, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET generation = excluded.generation, byte_offset = excluded.byte_offset",
            )
            .bind(int(to.generation))
            .bind(int(to.offset))
            .execute(&mut *tx)
            .await
            .map_err(db(op))?;
            tx.commit().await.map_err(db(op))
        })
    }

    fn cost_rows(&self, since_ms: i64) -> StoreFuture<'_, Vec<CostRow>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT function, version, hour_ms, architecture, provisioned, requests, mb_ms, storage_mb_ms
                 FROM cost_hours WHERE hour_ms >= ?
                 ORDER BY function, version, hour_ms, architecture, provisioned",
            )
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await
            .map_err(db("cost rows"))?;
            Ok(rows
                .iter()
                .map(|r| CostRow {
                    function: r.get(0),
                    version: r.get(1),
                    hour_ms: r.get(2),
                    architecture: r.get(3),
                    provisioned: r.get::<i64, _>(4) != 0,
                    requests: uint(r.get(5)),
                    mb_ms: uint(r.get(6)),
                    storage_mb_ms: uint(r.get(7)),
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(function: &str, requests: u64, mb_ms: u64) -> CostRow {
        CostRow {
            function: function.into(),
            version: "$LATEST".into(),
            hour_ms: 3_600_000,
            architecture: "x86_64".into(),
            provisioned: false,
            requests,
            mb_ms,
            storage_mb_ms: 0,
        }
    }

    #[tokio::test]
    async fn folds_add_up_move_the_position_and_refuse_a_stale_one() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|source| StoreError::Io {
            path: "tempdir".into(),
            source,
        })?;
        let store = SqliteStore::open(&dir.path().join("nimbus.db")).await?;
        let start = store.cost_position().await?;
        assert_eq!(start, JournalPosition::default());
        let p1 = JournalPosition {
            generation: 1,
            offset: 100,
        };
        store
            .fold_costs(&[row("a", 2, 256), row("b", 1, 128)], start, p1)
            .await?;
        let p2 = JournalPosition {
            generation: 1,
            offset: 180,
        };
        store.fold_costs(&[row("a", 1, 128)], p1, p2).await?;
        // A fold from a position the store has moved past changes nothing.
        let stale = store.fold_costs(&[row("a", 9, 9)], p1, p2).await;
        assert!(matches!(stale, Err(StoreError::Conflict(_))));
        assert_eq!(store.cost_position().await?, p2);
        let rows = store.cost_rows(0).await?;
        assert_eq!(rows, vec![row("a", 3, 384), row("b", 1, 128)]);
        assert!(store.cost_rows(7_200_000).await?.is_empty());
        Ok(())
    }
}
