//! [`ScheduleStore`] on SQLite: the `schedule_groups` and `schedules` tables.

use nimbus_model::scheduler::{Schedule, ScheduleGroup, ScheduleState};
use sqlx::Row;

use crate::schedules::{Due, DueSchedule, FireSchedule, ScheduleStore};
use crate::sqlite::{db, decode, encode};
use crate::{SqliteStore, StoreError, StoreFuture};

fn due_of(row: &sqlx::sqlite::SqliteRow, at: usize) -> Option<Due> {
    let due_ms: Option<i64> = row.get(at);
    let fire_ms: Option<i64> = row.get(at + 1);
    Some(Due {
        due_ms: due_ms?,
        fire_ms: fire_ms?,
    })
}

/// Whether `name` starts with `prefix`, in SQL (no LIKE: names may hold `_`).
const PREFIX: &str = "(? IS NULL OR substr(name, 1, length(?)) = ?)";

impl ScheduleStore for SqliteStore {
    fn create_group<'a>(&'a self, g: &'a ScheduleGroup) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let res = sqlx::query("INSERT INTO schedule_groups (name, record) VALUES (?, ?)")
                .bind(&g.name)
                .bind(encode(g))
                .execute(&self.writer)
                .await;
            match res {
                Ok(_) => Ok(()),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    Err(StoreError::AlreadyExists(g.name.clone()))
                }
                Err(e) => Err(db("create schedule group")(e)),
            }
        })
    }

    fn update_group<'a>(&'a self, g: &'a ScheduleGroup) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let res = sqlx::query("UPDATE schedule_groups SET record = ? WHERE name = ?")
                .bind(encode(g))
                .bind(&g.name)
                .execute(&self.writer)
                .await
                .map_err(db("update schedule group"))?;
            if res.rows_affected() == 0 {
                return Err(StoreError::NotFound(g.name.clone()));
            }
            Ok(())
        })
    }

    fn get_group<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<ScheduleGroup>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT record FROM schedule_groups WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(db("get schedule group"))?;
            row.map(|r| decode(name, r.get::<&str, _>(0))).transpose()
        })
    }

    fn list_groups<'a>(
        &'a self,
        prefix: Option<&'a str>,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<ScheduleGroup>> {
        Box::pin(async move {
            let rows = sqlx::query(&format!(
                "SELECT name, record FROM schedule_groups WHERE name > ? AND {PREFIX} ORDER BY name LIMIT ?"
            ))
            .bind(after.unwrap_or(""))
            .bind(prefix)
            .bind(prefix)
            .bind(prefix)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db("list schedule groups"))?;
            rows.iter()
                .map(|r| decode(r.get::<&str, _>(0), r.get::<&str, _>(1)))
                .collect()
        })
    }

    fn delete_group<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            // Its schedules go with it (ON DELETE CASCADE), in the same statement.
            let res = sqlx::query("DELETE FROM schedule_groups WHERE name = ?")
                .bind(name)
                .execute(&self.writer)
                .await
                .map_err(db("delete schedule group"))?;
            Ok(res.rows_affected() == 1)
        })
    }

    fn create_schedule<'a>(&'a self, s: &'a Schedule, due: Option<Due>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let res = sqlx::query(
                "INSERT INTO schedules (group_name, name, record, due_ms, fire_ms) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&s.group)
            .bind(&s.name)
            .bind(encode(s))
            .bind(due.map(|d| d.due_ms))
            .bind(due.map(|d| d.fire_ms))
            .execute(&self.writer)
            .await;
            match res {
                Ok(_) => Ok(()),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    Err(StoreError::AlreadyExists(s.name.clone()))
                }
                Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                    Err(StoreError::NotFound(s.group.clone()))
                }
                Err(e) => Err(db("create schedule")(e)),
            }
        })
    }

    fn update_schedule<'a>(&'a self, s: &'a Schedule, due: Option<Due>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let res = sqlx::query(
                "UPDATE schedules SET record = ?, due_ms = ?, fire_ms = ? WHERE group_name = ? AND name = ?",
            )
            .bind(encode(s))
            .bind(due.map(|d| d.due_ms))
            .bind(due.map(|d| d.fire_ms))
            .bind(&s.group)
            .bind(&s.name)
            .execute(&self.writer)
            .await
            .map_err(db("update schedule"))?;
            if res.rows_affected() == 0 {
                return Err(StoreError::NotFound(s.name.clone()));
            }
            Ok(())
        })
    }

    fn get_schedule<'a>(
        &'a self,
        group: &'a str,
        name: &'a str,
    ) -> StoreFuture<'a, Option<(Schedule, Option<Due>)>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT record, due_ms, fire_ms FROM schedules WHERE group_name = ? AND name = ?",
            )
            .bind(group)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get schedule"))?;
            row.map(|r| Ok((decode(name, r.get::<&str, _>(0))?, due_of(&r, 1))))
                .transpose()
        })
    }

    fn delete_schedule<'a>(&'a self, group: &'a str, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let res = sqlx::query("DELETE FROM schedules WHERE group_name = ? AND name = ?")
                .bind(group)
                .bind(name)
                .execute(&self.writer)
                .await
                .map_err(db("delete schedule"))?;
            Ok(res.rows_affected() == 1)
        })
    }

    fn list_schedules<'a>(
        &'a self,
        group: Option<&'a str>,
        prefix: Option<&'a str>,
        state: Option<ScheduleState>,
        after: Option<(&'a str, &'a str)>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Schedule>> {
        Box::pin(async move {
            let (after_group, after_name) = after.unwrap_or(("", ""));
            // State lives in the record: filtered here, paging on until `limit` match.
            let mut out = Vec::new();
            let mut cursor = (after_group.to_string(), after_name.to_string());
            loop {
                let rows = sqlx::query(&format!(
                    "SELECT group_name, name, record FROM schedules WHERE (group_name, name) > (?, ?) AND (? IS NULL OR group_name = ?) AND {PREFIX} ORDER BY group_name, name LIMIT ?"
                ))
                .bind(&cursor.0)
                .bind(&cursor.1)
                .bind(group)
                .bind(group)
                .bind(prefix)
                .bind(prefix)
                .bind(prefix)
                .bind(i64::try_from(limit.max(1)).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(db("list schedules"))?;
                let Some(last) = rows.last() else { break };
                cursor = (last.get::<String, _>(0), last.get::<String, _>(1));
                let full = rows.len() >= limit.max(1);
                for r in &rows {
                    let s: Schedule = decode(r.get::<&str, _>(1), r.get::<&str, _>(2))?;
                    if state.is_none_or(|st| st == s.state) && out.len() < limit {
                        out.push(s);
                    }
                }
                if out.len() >= limit || !full {
                    break;
                }
            }
            Ok(out)
        })
    }

    fn next_schedule_fire(&self) -> StoreFuture<'_, Option<i64>> {
        Box::pin(async move {
            sqlx::query_scalar::<_, Option<i64>>("SELECT min(fire_ms) FROM schedules")
                .fetch_one(&self.pool)
                .await
                .map_err(db("next schedule fire"))
        })
    }

    fn due_schedules(&self, now_ms: i64, limit: usize) -> StoreFuture<'_, Vec<DueSchedule>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT name, record, due_ms, fire_ms FROM schedules WHERE fire_ms IS NOT NULL AND fire_ms <= ? ORDER BY fire_ms LIMIT ?",
            )
            .bind(now_ms)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db("due schedules"))?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let schedule = decode(r.get::<&str, _>(0), r.get::<&str, _>(1))?;
                if let Some(due) = due_of(r, 2) {
                    out.push(DueSchedule { schedule, due });
                }
            }
            Ok(out)
        })
    }

    fn fire_schedule<'a>(&'a self, fire: &'a FireSchedule) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut tx = self.writer.begin().await.map_err(db("fire schedule"))?;
            let row = sqlx::query(
                "SELECT due_ms, fire_ms FROM schedules WHERE group_name = ? AND name = ?",
            )
            .bind(&fire.group)
            .bind(&fire.name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("fire schedule"))?;
            if row.as_ref().and_then(|r| due_of(r, 0)) != Some(fire.expected) {
                return Ok(false);
            }
            if let Some(e) = &fire.event {
                sqlx::query(
                    "INSERT INTO async_events (function, qualifier, region, request_id, payload, client_context, trace_header, enqueued_ms, due_ms, chain) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&e.function)
                .bind(&e.qualifier)
                .bind(&e.region)
                .bind(&e.request_id)
                .bind(&e.payload)
                .bind(&e.client_context)
                .bind(&e.trace_header)
                .bind(e.enqueued_ms)
                .bind(e.enqueued_ms)
                .bind(i64::from(e.chain))
                .execute(&mut *tx)
                .await
                .map_err(db("fire schedule"))?;
            }
            let q = if fire.delete {
                sqlx::query("DELETE FROM schedules WHERE group_name = ? AND name = ?")
                    .bind(&fire.group)
                    .bind(&fire.name)
            } else {
                sqlx::query(
                    "UPDATE schedules SET due_ms = ?, fire_ms = ? WHERE group_name = ? AND name = ?",
                )
                .bind(fire.next.map(|d| d.due_ms))
                .bind(fire.next.map(|d| d.fire_ms))
                .bind(&fire.group)
                .bind(&fire.name)
            };
            q.execute(&mut *tx).await.map_err(db("fire schedule"))?;
            tx.commit().await.map_err(db("fire schedule"))?;
            Ok(true)
        })
    }
}
