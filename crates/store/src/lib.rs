//! Nimbus's durable state: function metadata behind the [`Store`] trait (SQLite now, PostgreSQL
//! for clusters), and content-addressed code packages in [`code::CodeStore`].
//!
//! Invariant: a function's code package is complete on disk before its metadata is committed, so
//! metadata never points at missing code, whatever moment the process dies at.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod code;
pub mod costs;
mod error;
pub mod events;
pub mod log_queries;
pub mod queues;
pub mod schedules;
mod sqlite;
mod sqlite_costs;
mod sqlite_events;
mod sqlite_logs;
mod sqlite_queues;
mod sqlite_schedules;
mod sqlite_urls;
pub mod urls;

use std::future::Future;
use std::pin::Pin;

pub use error::{CodeError, StoreError};
pub use events::{Claim, EventStore, EventWrites, NewEvent, Reschedule, StoredEvent};
pub use log_queries::{EventQuery, LogGroupSummary, LogQueries, LogStreamSummary, StreamOrder};
use nimbus_model::policy::Policy;
use nimbus_model::{Alias, Function};
pub use queues::{QueueStore, QueueStoreError};
pub use schedules::{Due, DueSchedule, FireSchedule, ScheduleStore};
pub use sqlite::SqliteStore;
pub use urls::UrlStore;

/// A boxed future, so that the store can be used as `dyn Store`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Totals for GetAccountSettings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Number of functions.
    pub function_count: u64,
    /// Sum of the zip sizes of their `$LATEST`s and published versions (as Lambda counts it).
    pub total_code_size: u64,
    /// Sum of their reserved concurrency.
    pub reserved_concurrency: u64,
}

/// One stored log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Increasing id, for following a group from where one left off (0 before storing).
    pub id: i64,
    /// `/aws/lambda/<name>`.
    pub group: String,
    /// `YYYY/MM/DD/[<version>]<32 hex>`.
    pub stream: String,
    /// Epoch milliseconds.
    pub timestamp_ms: i64,
    /// The line.
    pub message: String,
}

/// Durable function metadata and logs. Every method is atomic.
pub trait Store: Send + Sync {
    /// Inserts a new function; `AlreadyExists` if the name is taken.
    fn create_function<'a>(&'a self, f: &'a Function) -> StoreFuture<'a, ()>;
    /// The function called `name`.
    fn get_function<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Function>>;
    /// Up to `limit` functions in name order, starting after `after`.
    fn list_functions<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Function>>;
    /// Replaces the function if its stored revision is still `expected_revision`.
    fn update_function<'a>(
        &'a self,
        f: &'a Function,
        expected_revision: &'a str,
    ) -> StoreFuture<'a, ()>;
    /// Deletes the function, and its versions; `NotFound` if there is none.
    fn delete_function<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()>;
    /// Adds `snapshot` as the next published version of its function, if the function's stored
    /// revision is still `expected_revision`; returns its number. `$LATEST` is not changed.
    fn publish_version<'a>(
        &'a self,
        snapshot: &'a Function,
        expected_revision: &'a str,
    ) -> StoreFuture<'a, u32>;
    /// The published version of `name` with the highest number, if any.
    fn newest_version<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Function>>;
    /// Published version `number` of the function `name`.
    fn get_version<'a>(&'a self, name: &'a str, number: u32) -> StoreFuture<'a, Option<Function>>;
    /// Up to `limit` published versions of `name` in number order, after number `after`.
    fn list_versions<'a>(
        &'a self,
        name: &'a str,
        after: u32,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Function>>;
    /// Deletes published version `number` of `name`; whether there was one.
    fn delete_version<'a>(&'a self, name: &'a str, number: u32) -> StoreFuture<'a, bool>;
    /// Adds an alias; `AlreadyExists` if its function has one of that name, `NotFound` if
    /// there is no such function.
    fn create_alias<'a>(&'a self, alias: &'a Alias) -> StoreFuture<'a, ()>;
    /// Alias `name` of `function`.
    fn get_alias<'a>(&'a self, function: &'a str, name: &'a str) -> StoreFuture<'a, Option<Alias>>;
    /// Up to `limit` aliases of `function` in name order, after `after`.
    fn list_aliases<'a>(
        &'a self,
        function: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Alias>>;
    /// Replaces the alias if its stored revision is still `expected_revision`.
    fn update_alias<'a>(
        &'a self,
        alias: &'a Alias,
        expected_revision: &'a str,
    ) -> StoreFuture<'a, ()>;
    /// Deletes alias `name` of `function`; whether there was one.
    fn delete_alias<'a>(&'a self, function: &'a str, name: &'a str) -> StoreFuture<'a, bool>;
    /// The policy of `function` at `qualifier` (`""`: the unqualified function).
    fn get_policy<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
    ) -> StoreFuture<'a, Option<Policy>>;
    /// Stores `policy` if the stored one still has revision `expected` (`None`: there is none
    /// yet); `RevisionMismatch` otherwise, `NotFound` if the function is gone. An empty policy
    /// is deleted.
    fn put_policy<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
        policy: &'a Policy,
        expected: Option<&'a str>,
    ) -> StoreFuture<'a, ()>;
    /// The code digests (hex) that some function or published version uses.
    fn code_in_use(&self) -> StoreFuture<'_, Vec<String>>;
    /// Function count and code size.
    fn usage(&self) -> StoreFuture<'_, Usage>;
    /// Appends log events (their `id` is assigned by the store).
    fn append_logs<'a>(&'a self, events: &'a [LogRecord]) -> StoreFuture<'a, ()>;
    /// Up to `limit` events of `group` with id greater than `after_id` and a timestamp at or
    /// after `since_ms`, oldest first.
    fn read_logs<'a>(
        &'a self,
        group: &'a str,
        since_ms: i64,
        after_id: i64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<LogRecord>>;
    /// Deletes events older than `before_ms`, but those of groups with a retention policy of
    /// their own (`LogQueries::expire_group_logs`); returns how many.
    fn expire_logs(&self, before_ms: i64) -> StoreFuture<'_, u64>;
    /// Runs the backend's own consistency check; returns its complaints (empty when sound).
    fn integrity_check(&self) -> StoreFuture<'_, Vec<String>>;
}

#[cfg(test)]
mod queue_tests;
#[cfg(test)]
mod schedule_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod url_tests;
