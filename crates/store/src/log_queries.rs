//! What the CloudWatch Logs API reads of the stored logs: groups and streams (from the
//! per-stream summary kept as events are appended) and events by stream or across a group.

use crate::{LogRecord, StoreFuture};

/// A log group: the streams of one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroupSummary {
    /// Its name (`/aws/lambda/<function>`).
    pub name: String,
    /// When its first stream began, epoch ms.
    pub created_ms: i64,
    /// The bytes of its events' messages.
    pub bytes: i64,
    /// Its own retention (PutRetentionPolicy), days.
    pub retention_days: Option<u32>,
}

/// A log stream. One made by CreateLogStream that has no event yet has `bytes` 0, `first_ms`
/// `i64::MAX` and `last_ms` `i64::MIN` (see [`LogStreamSummary::is_empty`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStreamSummary {
    /// Its name.
    pub name: String,
    /// When it began, epoch ms.
    pub created_ms: i64,
    /// Its first event's timestamp.
    pub first_ms: i64,
    /// Its last event's timestamp.
    pub last_ms: i64,
    /// When its last events were stored.
    pub ingested_ms: i64,
    /// The bytes of its events' messages.
    pub bytes: i64,
}

impl LogStreamSummary {
    /// Whether no event was ever stored in it.
    pub fn is_empty(&self) -> bool {
        self.first_ms == i64::MAX
    }
}

/// How streams are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOrder {
    /// By name.
    Name,
    /// By last event time (then name).
    LastEvent,
}

/// Which events of a group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Only these streams (none: every stream).
    pub streams: Option<Vec<String>>,
    /// Only streams whose names start with this.
    pub stream_prefix: Option<String>,
    /// Timestamps at or after this, epoch ms.
    pub start_ms: Option<i64>,
    /// Timestamps before this, epoch ms.
    pub end_ms: Option<i64>,
    /// Ids greater than this.
    pub after_id: Option<i64>,
    /// Ids less than this.
    pub before_id: Option<i64>,
    /// The newest `limit` (still returned oldest first), not the oldest.
    pub newest: bool,
}

/// Reads of the stored logs, and the settings of log groups. Every method is atomic.
pub trait LogQueries: Send + Sync {
    /// Makes an empty group: `AlreadyExists` if there is one of the name (made, or written to).
    fn create_log_group<'a>(&'a self, name: &'a str, created_ms: i64) -> StoreFuture<'a, ()>;
    /// Deletes a group with its streams and events; whether there was one.
    fn delete_log_group<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool>;
    /// Sets (or, with `None`, removes) a group's own retention: `NotFound` if there is no such
    /// group.
    fn set_log_retention<'a>(
        &'a self,
        name: &'a str,
        days: Option<u32>,
        now_ms: i64,
    ) -> StoreFuture<'a, ()>;
    /// Every group with a retention of its own, and its days.
    fn log_retentions(&self) -> StoreFuture<'_, Vec<(String, u32)>>;
    /// Deletes `group`'s events older than `before_ms`; returns how many.
    fn expire_group_logs<'a>(&'a self, group: &'a str, before_ms: i64) -> StoreFuture<'a, u64>;
    /// Up to `limit` groups in name order after `after`, named with `prefix`.
    fn log_groups<'a>(
        &'a self,
        prefix: Option<&'a str>,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<LogGroupSummary>>;
    /// Up to `limit` streams of `group` after skipping `offset`, named with `prefix`.
    fn log_streams<'a>(
        &'a self,
        group: &'a str,
        prefix: Option<&'a str>,
        order: StreamOrder,
        descending: bool,
        offset: usize,
        limit: usize,
    ) -> StoreFuture<'a, Vec<LogStreamSummary>>;
    /// Makes an empty stream in `group` (CreateLogStream): `NotFound` if there is no such
    /// group, `AlreadyExists` if the stream is there.
    fn create_log_stream<'a>(
        &'a self,
        group: &'a str,
        stream: &'a str,
        created_ms: i64,
    ) -> StoreFuture<'a, ()>;
    /// Deletes a stream and its events; whether there was one.
    fn delete_log_stream<'a>(&'a self, group: &'a str, stream: &'a str) -> StoreFuture<'a, bool>;
    /// The stream `stream` of `group`, if there is one.
    fn log_stream<'a>(
        &'a self,
        group: &'a str,
        stream: &'a str,
    ) -> StoreFuture<'a, Option<LogStreamSummary>>;
    /// Up to `limit` events of `group` that `q` selects, oldest first.
    fn log_events<'a>(
        &'a self,
        group: &'a str,
        q: &'a EventQuery,
        limit: usize,
    ) -> StoreFuture<'a, Vec<LogRecord>>;
}
