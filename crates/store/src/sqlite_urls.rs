//! [`UrlStore`] on SQLite: the `function_urls` table.

use nimbus_model::url::FunctionUrlConfig;
use sqlx::Row;

use crate::sqlite::{db, decode, encode};
use crate::urls::UrlStore;
use crate::{SqliteStore, StoreError, StoreFuture};

fn rows(
    function: &str,
    rows: &[sqlx::sqlite::SqliteRow],
) -> Result<Vec<FunctionUrlConfig>, StoreError> {
    rows.iter()
        .map(|r| decode(function, r.get::<&str, _>(0)))
        .collect()
}

impl UrlStore for SqliteStore {
    fn create_url<'a>(&'a self, url: &'a FunctionUrlConfig) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let res = sqlx::query(
                "INSERT INTO function_urls (function, qualifier, url_id, record) VALUES (?, ?, ?, ?)",
            )
            .bind(&url.function)
            .bind(&url.qualifier)
            .bind(&url.url_id)
            .bind(encode(url))
            .execute(&self.writer)
            .await;
            match res {
                Ok(_) => Ok(()),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    Err(StoreError::AlreadyExists(url.function.clone()))
                }
                Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                    Err(StoreError::NotFound(url.function.clone()))
                }
                Err(e) => Err(db("create function url")(e)),
            }
        })
    }

    fn get_url<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
    ) -> StoreFuture<'a, Option<FunctionUrlConfig>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT record FROM function_urls WHERE function = ? AND qualifier = ?",
            )
            .bind(function)
            .bind(qualifier)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get function url"))?;
            row.map(|r| decode(function, r.get::<&str, _>(0)))
                .transpose()
        })
    }

    fn get_url_by_id<'a>(&'a self, url_id: &'a str) -> StoreFuture<'a, Option<FunctionUrlConfig>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT record FROM function_urls WHERE url_id = ?")
                .bind(url_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db("get function url by id"))?;
            row.map(|r| decode(url_id, r.get::<&str, _>(0))).transpose()
        })
    }

    fn update_url<'a>(&'a self, url: &'a FunctionUrlConfig) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self
                .writer
                .begin()
                .await
                .map_err(db("update function url"))?;
            let row = sqlx::query(
                "SELECT record FROM function_urls WHERE function = ? AND qualifier = ?",
            )
            .bind(&url.function)
            .bind(&url.qualifier)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("update function url"))?;
            let Some(row) = row else {
                return Err(StoreError::NotFound(url.function.clone()));
            };
            let stored: FunctionUrlConfig = decode(&url.function, row.get::<&str, _>(0))?;
            let next = FunctionUrlConfig {
                url_id: stored.url_id,
                creation_time: stored.creation_time,
                ..url.clone()
            };
            sqlx::query("UPDATE function_urls SET record = ? WHERE function = ? AND qualifier = ?")
                .bind(encode(&next))
                .bind(&url.function)
                .bind(&url.qualifier)
                .execute(&mut *tx)
                .await
                .map_err(db("update function url"))?;
            tx.commit().await.map_err(db("update function url"))
        })
    }

    fn delete_url<'a>(&'a self, function: &'a str, qualifier: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let res = sqlx::query("DELETE FROM function_urls WHERE function = ? AND qualifier = ?")
                .bind(function)
                .bind(qualifier)
                .execute(&self.writer)
                .await
                .map_err(db("delete function url"))?;
            Ok(res.rows_affected() == 1)
        })
    }

    fn list_urls<'a>(
        &'a self,
        function: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<FunctionUrlConfig>> {
        Box::pin(async move {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            // The unqualified URL's qualifier is '', first in order.
            let found = match after {
                None => sqlx::query(
                    "SELECT record FROM function_urls WHERE function = ? ORDER BY qualifier LIMIT ?",
                )
                .bind(function)
                .bind(limit),
                Some(a) => sqlx::query(
                    "SELECT record FROM function_urls WHERE function = ? AND qualifier > ?
                     ORDER BY qualifier LIMIT ?",
                )
                .bind(function)
                .bind(a)
                .bind(limit),
            }
            .fetch_all(&self.pool)
            .await
            .map_err(db("list function urls"))?;
            rows(function, &found)
        })
    }
}
