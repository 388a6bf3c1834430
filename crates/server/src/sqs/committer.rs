//! Group commit of sends: every SendMessage(Batch) and internal send goes through one task that
//! takes all the sends waiting when it is free and stores them with one transaction (one WAL
//! fsync) through [`QueueStore::send_many`]. Each sender still gets its answer only once its
//! messages are committed; concurrent senders share the fsync instead of queueing for one
//! each. A lone sender waits for nothing: the task takes what is there, never a time window.

use std::sync::Arc;

use nimbus_store::queues::{NewMessage, SendRequest, Sent};
use nimbus_store::QueueStore;
use tokio::sync::{mpsc, oneshot};

use super::{SqsError, SqsResult};
use crate::app::now_ms;

/// AWS compat: FIFO queues remember deduplication ids for five minutes.
pub(crate) const DEDUP_MS: i64 = 5 * 60 * 1000;

/// At most this much body goes into one transaction (the rest waits for the next).
const MAX_GROUP_BYTES: usize = 8 * 1024 * 1024;
/// And at most this many requests.
const MAX_GROUP_REQUESTS: usize = 512;

struct Job {
    request: SendRequest,
    reply: oneshot::Sender<SqsResult<Vec<Sent>>>,
}

/// The handle senders use; the task ends when the last handle is gone.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the task (inside a tokio runtime).
    pub(crate) fn spawn(store: Arc<dyn QueueStore>) -> Self {
        let (jobs, rx) = mpsc::channel(4096);
        tokio::spawn(run(store, rx));
        Self { jobs }
    }

    /// Stores `messages` in `queue`; returns once they are committed.
    pub(crate) async fn send(
        &self,
        queue: &str,
        messages: Vec<NewMessage>,
    ) -> SqsResult<Vec<Sent>> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            request: SendRequest {
                queue: queue.to_string(),
                messages,
            },
            reply,
        };
        self.jobs
            .send(job)
            .await
            .map_err(|_| SqsError::internal("the send committer has stopped"))?;
        answer
            .await
            .map_err(|_| SqsError::internal("the send committer dropped a send"))?
    }
}

fn bytes_of(r: &SendRequest) -> usize {
    r.messages.iter().map(|m| m.body.len()).sum()
}

async fn run(store: Arc<dyn QueueStore>, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut bytes = bytes_of(&first.request);
        let mut jobs = vec![first];
        while bytes < MAX_GROUP_BYTES && jobs.len() < MAX_GROUP_REQUESTS {
            match rx.try_recv() {
                Ok(j) => {
                    bytes += bytes_of(&j.request);
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        let (requests, replies): (Vec<SendRequest>, Vec<_>) =
            jobs.into_iter().map(|j| (j.request, j.reply)).unzip();
        match store.send_many(&requests, now_ms(), DEDUP_MS).await {
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
