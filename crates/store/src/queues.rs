//! Durable queues (the SQS API's): the [`QueueStore`] trait and its records. The store keeps
//! queues, their messages and FIFO deduplication ids; what attributes mean (ranges, defaults,
//! the redrive policy) is the server's business: the store takes what a call needs as numbers.
//!
//! Every method is atomic. A send is committed before it returns (a batch in one transaction);
//! a receive claims its messages in one write transaction, so no two receivers get the same
//! visible message.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueStoreError {
    /// No queue of that name.
    #[error("queue {0} not found")]
    QueueNotFound(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A boxed future of a queue operation, so that the store can be used as `dyn QueueStore`.
pub type QueueFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, QueueStoreError>> + Send + 'a>>;

/// One queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRecord {
    /// Its name (`.fifo` at the end for FIFO queues).
    pub name: String,
    /// Whether it is a FIFO queue (fixed at creation).
    pub fifo: bool,
    /// Epoch milliseconds.
    pub created_ms: i64,
    /// Epoch milliseconds of the last change of its attributes.
    pub modified_ms: i64,
    /// The attributes set on it, as SQS spells them (`VisibilityTimeout` -> `"30"`).
    pub attributes: BTreeMap<String, String>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// A message attribute's value, as SendMessage takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageAttributeValue {
    /// `String`, `Number` or `Binary`, with an optional `.label`.
    pub data_type: String,
    /// The value of `String` and `Number` attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// The value of `Binary` attributes.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "base64_opt")]
    pub binary_value: Option<Vec<u8>>,
}

mod base64_opt {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

/// What never changes about a message once it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Its message attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, MessageAttributeValue>,
    /// MD5 (hex) of the body.
    pub md5_body: String,
    /// MD5 (hex) of the message attributes, when there are some.
    #[serde(default)]
    pub md5_attributes: Option<String>,
    /// MD5 (hex) of the message system attributes, when there are some.
    #[serde(default)]
    pub md5_system_attributes: Option<String>,
    /// `AWSTraceHeader`, the one message system attribute.
    #[serde(default)]
    pub trace_header: Option<String>,
    /// Who sent it (SenderId).
    pub sender_id: String,
    /// FIFO: its MessageGroupId.
    #[serde(default)]
    pub group_id: Option<String>,
    /// FIFO: its MessageDeduplicationId (given or derived from the body).
    #[serde(default)]
    pub dedup_id: Option<String>,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Its MessageId.
    pub message_id: String,
    /// Its body.
    pub body: String,
    /// Everything else about it.
    pub record: MessageRecord,
    /// Milliseconds before it can first be received.
    pub delay_ms: i64,
}

/// One write of [`QueueStore::apply_many`]: what the single-queue methods of the same name do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueWrite {
    /// [`QueueStore::send_messages`].
    Send {
        /// The queue.
        queue: String,
        /// Its messages, in order.
        messages: Vec<NewMessage>,
        /// FIFO: how long deduplication ids are remembered.
        dedup_ms: i64,
    },
    /// [`QueueStore::receive_messages`].
    Receive {
        /// The queue.
        queue: String,
        /// What to receive (its `now_ms` is replaced by the batch's).
        receive: Receive,
    },
    /// [`QueueStore::delete_messages`].
    Delete {
        /// The queue.
        queue: String,
        /// The receipts.
        receipts: Vec<Receipt>,
    },
    /// [`QueueStore::change_visibility`].
    ChangeVisibility {
        /// The queue.
        queue: String,
        /// The receipts and the times their messages become visible.
        changes: Vec<(Receipt, i64)>,
    },
}

/// What one [`QueueWrite`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueWritten {
    /// Of a send.
    Sent(Vec<Sent>),
    /// Of a receive.
    Received(Received),
    /// Of a delete: per receipt, whether it deleted.
    Deleted(Vec<bool>),
    /// Of a visibility change.
    VisibilityChanged(Vec<VisibilityChange>),
}

/// The answer to one sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The MessageId: the message's own, or, for a FIFO duplicate, the original's.
    pub message_id: String,
    /// FIFO: its sequence number.
    pub sequence_number: Option<i64>,
    /// Whether it was a FIFO duplicate within the deduplication interval (not stored again).
    pub duplicate: bool,
}

/// A stored message, as a receive or a peek sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The store's id (send order).
    pub id: i64,
    /// Its MessageId.
    pub message_id: String,
    /// Its body.
    pub body: String,
    /// Everything else it was sent with.
    pub record: MessageRecord,
    /// FIFO: its sequence number.
    pub sequence_number: Option<i64>,
    /// Epoch milliseconds of the send.
    pub sent_ms: i64,
    /// Epoch milliseconds from which it is visible.
    pub visible_at: i64,
    /// How often it was received.
    pub receive_count: u32,
    /// Epoch milliseconds of its first receive.
    pub first_receive_ms: Option<i64>,
    /// The token of its latest receive.
    pub receipt: Option<String>,
    /// The queue a dead-letter move took it from.
    pub source_queue: Option<String>,
}

/// Where messages received too often go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The dead-letter queue's name.
    pub queue: String,
    /// Messages received this often already move there on the next receive.
    pub max_receive_count: u32,
}

/// What a receive takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receive {
    /// At most this many messages.
    pub max: usize,
    /// How long the received messages stay invisible.
    pub visibility_ms: i64,
    /// The time of the receive (epoch ms).
    pub now_ms: i64,
    /// Messages older than this are gone (MessageRetentionPeriod).
    pub retention_ms: i64,
    /// FIFO order: a group with a message in flight delivers nothing more.
    pub fifo: bool,
    /// The queue's redrive policy.
    pub dead_letter: Option<DeadLetter>,
}

/// What a receive got.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Received {
    /// The messages claimed, with their new receipts.
    pub messages: Vec<StoredMessage>,
    /// How many were moved to the dead-letter queue on the way.
    pub moved_to_dead_letter: u64,
    /// The earliest time a message not visible now will be, if any.
    pub next_visible_ms: Option<i64>,
}

/// A receipt: which message, and which receive of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The message's store id.
    pub id: i64,
    /// The receive's token.
    pub token: String,
}

/// The outcome of one visibility change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisibilityChange {
    /// Done.
    Changed,
    /// The message is visible (not in flight).
    NotInFlight,
    /// No such message, or a later receive replaced this receipt.
    NotFound,
}

/// How many messages a queue holds, by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueCounts {
    /// Visible now.
    pub visible: u64,
    /// Received and not yet visible again.
    pub in_flight: u64,
    /// Never received and not yet visible (DelaySeconds).
    pub delayed: u64,
}

/// Durable queues and their messages.
pub trait QueueStore: Send + Sync {
    /// Creates `queue`; `Some(existing)` (and nothing changes) if the name is taken.
    fn create_queue<'a>(&'a self, queue: &'a QueueRecord) -> QueueFuture<'a, Option<QueueRecord>>;
    /// The queue called `name`.
    fn get_queue<'a>(&'a self, name: &'a str) -> QueueFuture<'a, Option<QueueRecord>>;
    /// Up to `limit` queues whose names start with `prefix`, in name order, after `after`.
    fn list_queues<'a>(
        &'a self,
        prefix: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> QueueFuture<'a, Vec<QueueRecord>>;
    /// Sets attributes of `name` (an empty value removes one) and its modification time.
    fn set_queue_attributes<'a>(
        &'a self,
        name: &'a str,
        attributes: &'a BTreeMap<String, String>,
        modified_ms: i64,
    ) -> QueueFuture<'a, QueueRecord>;
    /// Adds or replaces tags of `name`, and removes the tags `remove`.
    fn tag_queue<'a>(
        &'a self,
        name: &'a str,
        tags: &'a BTreeMap<String, String>,
        remove: &'a [String],
    ) -> QueueFuture<'a, QueueRecord>;
    /// Deletes the queue and its messages; whether there was one.
    fn delete_queue<'a>(&'a self, name: &'a str) -> QueueFuture<'a, bool>;
    /// Sends `messages` to `queue` in one transaction, at `now_ms`. FIFO duplicates (same
    /// deduplication id within `dedup_ms`) are answered with the original and not stored.
    fn send_messages<'a>(
        &'a self,
        queue: &'a str,
        messages: &'a [NewMessage],
        now_ms: i64,
        dedup_ms: i64,
    ) -> QueueFuture<'a, Vec<Sent>>;
    /// Applies `writes` in order, all in one transaction at `now_ms` (one commit for many
    /// callers); each has its own outcome (a write that fails, on a missing queue or a stored
    /// record that does not decode, fails alone and leaves nothing behind), and a database
    /// failure fails them all.
    fn apply_many<'a>(
        &'a self,
        writes: &'a [QueueWrite],
        now_ms: i64,
    ) -> QueueFuture<'a, Vec<Result<QueueWritten, QueueStoreError>>>;
    /// Claims up to `r.max` visible messages of `queue`, moving those received too often to
    /// the dead-letter queue first.
    fn receive_messages<'a>(&'a self, queue: &'a str, r: &'a Receive) -> QueueFuture<'a, Received>;
    /// Deletes the messages whose latest receipt is given; for each, whether it was deleted
    /// (`false`: gone already, or received again since).
    fn delete_messages<'a>(
        &'a self,
        queue: &'a str,
        receipts: &'a [Receipt],
    ) -> QueueFuture<'a, Vec<bool>>;
    /// Makes each message of a receipt visible at the time given with it.
    fn change_visibility<'a>(
        &'a self,
        queue: &'a str,
        changes: &'a [(Receipt, i64)],
        now_ms: i64,
    ) -> QueueFuture<'a, Vec<VisibilityChange>>;
    /// Deletes every message of `queue`; returns how many.
    fn purge_queue<'a>(&'a self, queue: &'a str) -> QueueFuture<'a, u64>;
    /// Up to `limit` messages of `queue` with ids above `after_id`, in send order, changing
    /// nothing (no receive is counted, no visibility changes).
    fn peek_messages<'a>(
        &'a self,
        queue: &'a str,
        after_id: i64,
        limit: usize,
    ) -> QueueFuture<'a, Vec<StoredMessage>>;
    /// The messages of `queue` by state at `now_ms`, after dropping those older than
    /// `retention_ms`.
    fn queue_counts<'a>(
        &'a self,
        queue: &'a str,
        now_ms: i64,
        retention_ms: i64,
    ) -> QueueFuture<'a, QueueCounts>;
    /// Moves the messages of dead-letter queue `from` that came from `to` (and, if
    /// `unsourced`, those that came from nowhere known) back to `to`, visible at `now_ms`,
    /// never received. Returns how many.
    fn redrive<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
        unsourced: bool,
        now_ms: i64,
    ) -> QueueFuture<'a, u64>;
}
