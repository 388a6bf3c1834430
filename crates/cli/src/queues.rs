//! `nimbus queues list|peek|send|purge|redrive`: SQS queues through the server's own queue
//! endpoints (`/_nimbus/queues`). Peeking changes nothing: no receive is counted.

use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::{segment, Client};
use crate::Target;

#[derive(Subcommand, Debug)]
pub(crate) enum QueuesCommand {
    /// List every queue with its message counts.
    List,
    /// Show messages without receiving them (no visibility or receive count changes).
    Peek {
        /// Queue name or URL.
        queue: String,
        /// At most this many messages (1-100).
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
    /// Send a message (FIFO queues: group `nimbus`, each a message of its own).
    Send {
        /// Queue name or URL.
        queue: String,
        /// The message body.
        body: String,
    },
    /// Delete every message of a queue.
    Purge {
        /// Queue name or URL.
        queue: String,
    },
    /// Move a dead-letter queue's messages back to the queues whose redrive policy names it.
    Redrive {
        /// The dead-letter queue's name or URL.
        dlq: String,
    },
}

/// A queue's name, from a name or a queue URL.
fn name_of(queue: &str) -> &str {
    queue
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(queue)
}

pub(crate) fn run(cmd: QueuesCommand, target: &Target) -> anyhow::Result<()> {
    let client = Client::new(target)?;
    let path = |q: &str, what: &str| format!("/_nimbus/queues/{}/{what}", segment(name_of(q)));
    match cmd {
        QueuesCommand::List => {
            let v = client.call("GET", "/_nimbus/queues", None)?;
            println!(
                "{:<50} {:>9} {:>9} {:>8}  DEAD-LETTER QUEUE",
                "NAME", "VISIBLE", "INFLIGHT", "DELAYED"
            );
            for q in v
                .get("Queues")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let n = |k: &str| q.get(k).and_then(Value::as_u64).unwrap_or(0);
                println!(
                    "{:<50} {:>9} {:>9} {:>8}  {}",
                    q.get("Name").and_then(Value::as_str).unwrap_or("?"),
                    n("Visible"),
                    n("InFlight"),
                    n("Delayed"),
                    q.get("DeadLetterQueue")
                        .and_then(Value::as_str)
                        .unwrap_or("-")
                );
            }
        }
        QueuesCommand::Peek { queue, limit } => {
            let v = client.call(
                "GET",
                &format!("{}?limit={limit}", path(&queue, "peek")),
                None,
            )?;
            for m in v
                .get("Messages")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                println!("{}", serde_json::to_string(m)?);
            }
        }
        QueuesCommand::Send { queue, body } => {
            let v = client.call(
                "POST",
                &path(&queue, "send"),
                Some(&json!({ "MessageBody": body })),
            )?;
            println!(
                "{}",
                v.get("MessageId").and_then(Value::as_str).unwrap_or("?")
            );
        }
        QueuesCommand::Purge { queue } => {
            let v = client.call("POST", &path(&queue, "purge"), Some(&json!({})))?;
            println!(
                "purged {} messages",
                v.get("Purged").and_then(Value::as_u64).unwrap_or(0)
            );
        }
        QueuesCommand::Redrive { dlq } => {
            let v = client.call("POST", &path(&dlq, "redrive"), Some(&json!({})))?;
            for (queue, n) in v
                .get("Moved")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                println!("moved {} messages to {queue}", n.as_u64().unwrap_or(0));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn queues_are_named_by_name_or_url() {
        assert_eq!(super::name_of("jobs"), "jobs");
        assert_eq!(
            super::name_of("http://h:9000/000000000000/jobs.fifo"),
            "jobs.fifo"
        );
        assert_eq!(super::name_of("http://h/000000000000/jobs/"), "jobs");
    }
}
