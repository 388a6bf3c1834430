//! Group commit of queue writes: every send, receive, delete and visibility change goes through
//! one task that takes all the writes waiting when it is free and applies them in one
//! transaction (one WAL fsync) through [`QueueStore::apply_many`]. Each caller still gets its
//! answer only once its write is committed, and each write is as atomic as alone (a receive's
//! claim included); concurrent callers share the fsync instead of queueing for one each. A lone
//! caller waits for nothing: the task takes what is there, never a time window.

use std::sync::Arc;

use nimbus_store::queues::{
    NewMessage, QueueWrite, QueueWritten, Receipt, Receive, Received, Sent, VisibilityChange,
};
use nimbus_store::QueueStore;
use tokio::sync::{mpsc, oneshot};

use super::{SqsError, SqsResult};
use crate::app::now_ms;

/// AWS compat: FIFO queues remember deduplication ids for five minutes.
pub(crate) const DEDUP_MS: i64 = 5 * 60 * 1000;

/// At most this much message body goes into one transaction (the rest waits for the next).
const MAX_GROUP_BYTES: usize = 8 * 1024 * 1024;
/// And at most this many writes.
const MAX_GROUP_WRITES: usize = 512;

struct Job {
    write: QueueWrite,
    reply: oneshot::Sender<SqsResult<QueueWritten>>,
}

/// The handle callers use; the task ends when the last handle is gone.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    jobs: mpsc::Sender<Job>,
}

fn unexpected(w: QueueWritten) -> SqsError {
    SqsError::internal(format!("the committer answered a write with {w:?}"))
}

impl Committer {
    /// Starts the task (inside a tokio runtime).
    pub(crate) fn spawn(store: Arc<dyn QueueStore>) -> Self {
        let (jobs, rx) = mpsc::channel(4096);
        tokio::spawn(run(store, rx));
        Self { jobs }
    }

    async fn apply(&self, write: QueueWrite) -> SqsResult<QueueWritten> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { write, reply })
            .await
            .map_err(|_| SqsError::internal("the queue committer has stopped"))?;
        answer
            .await
            .map_err(|_| SqsError::internal("the queue committer dropped a write"))?
    }

    /// Stores `messages` in `queue`; returns once they are committed.
    pub(crate) async fn send(
        &self,
        queue: &str,
        messages: Vec<NewMessage>,
    ) -> SqsResult<Vec<Sent>> {
        let write = QueueWrite::Send {
            queue: queue.to_string(),
            messages,
            dedup_ms: DEDUP_MS,
        };
        match self.apply(write).await? {
            QueueWritten::Sent(s) => Ok(s),
            other => Err(unexpected(other)),
        }
    }

    /// Claims messages of `queue` (at the time of the transaction it goes in).
    pub(crate) async fn receive(&self, queue: &str, receive: Receive) -> SqsResult<Received> {
        let write = QueueWrite::Receive {
            queue: queue.to_string(),
            receive,
        };
        match self.apply(write).await? {
            QueueWritten::Received(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes the messages of `receipts`.
    pub(crate) async fn delete(&self, queue: &str, receipts: Vec<Receipt>) -> SqsResult<Vec<bool>> {
        let write = QueueWrite::Delete {
            queue: queue.to_string(),
            receipts,
        };
        match self.apply(write).await? {
            QueueWritten::Deleted(d) => Ok(d),
            other => Err(unexpected(other)),
        }
    }

    /// Makes each message of a receipt visible at the time given with it.
    pub(crate) async fn change_visibility(
        &self,
        queue: &str,
        changes: Vec<(Receipt, i64)>,
    ) -> SqsResult<Vec<VisibilityChange>> {
        let write = QueueWrite::ChangeVisibility {
            queue: queue.to_string(),
            changes,
        };
        match self.apply(write).await? {
            QueueWritten::VisibilityChanged(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }
}

fn bytes_of(w: &QueueWrite) -> usize {
    match w {
        QueueWrite::Send { messages, .. } => messages.iter().map(|m| m.body.len()).sum(),
        _ => 0,
    }
}

async fn run(store: Arc<dyn QueueStore>, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut bytes = bytes_of(&first.write);
        let mut jobs = vec![first];
        while bytes < MAX_GROUP_BYTES && jobs.len() < MAX_GROUP_WRITES {
            match rx.try_recv() {
                Ok(j) => {
                    bytes += bytes_of(&j.write);
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        let (writes, replies): (Vec<QueueWrite>, Vec<_>) =
            jobs.into_iter().map(|j| (j.write, j.reply)).unzip();
        match store.apply_many(&writes, now_ms()).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome.map_err(SqsError::from));
                }
            }
            Err(e) => {
                let e = SqsError::from(e);
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
