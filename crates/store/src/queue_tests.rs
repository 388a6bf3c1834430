//! The contract every [`QueueStore`] backend must meet, written against the trait: SQLite runs
//! it here; a PostgreSQL backend runs the same functions.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::queues::{
    DeadLetter, MessageAttributeValue, MessageRecord, NewMessage, QueueRecord, QueueStore,
    QueueStoreError, QueueWrite, QueueWritten, Receipt, Receive, VisibilityChange,
};
use crate::SqliteStore;

fn queue(name: &str) -> QueueRecord {
    QueueRecord {
        name: name.to_string(),
        fifo: name.ends_with(".fifo"),
        created_ms: 1,
        modified_ms: 1,
        attributes: BTreeMap::from([("VisibilityTimeout".to_string(), "30".to_string())]),
        tags: BTreeMap::new(),
    }
}

fn message(id: &str, body: &str, group: Option<&str>, dedup: Option<&str>) -> NewMessage {
    NewMessage {
        message_id: id.to_string(),
        body: body.to_string(),
        record: MessageRecord {
            attributes: BTreeMap::from([(
                "bin".to_string(),
                MessageAttributeValue {
                    data_type: "Binary".into(),
                    string_value: None,
                    binary_value: Some(vec![0, 1, 255]),
                },
            )]),
            md5_body: "md5".into(),
            sender_id: "me".into(),
            group_id: group.map(str::to_string),
            dedup_id: dedup.map(str::to_string),
            ..MessageRecord::default()
        },
        delay_ms: 0,
    }
}

fn receive(max: usize, now_ms: i64, fifo: bool) -> Receive {
    Receive {
        max,
        visibility_ms: 30_000,
        now_ms,
        retention_ms: 345_600_000,
        fifo,
        dead_letter: None,
    }
}

fn receipt(m: &crate::queues::StoredMessage) -> Receipt {
    Receipt {
        id: m.id,
        token: m.receipt.clone().expect("received messages have a receipt"),
    }
}

async fn queues_are_created_listed_changed_and_deleted(store: &dyn QueueStore) {
    assert_eq!(
        store.create_queue(&queue("b-q")).await.expect("create"),
        None
    );
    assert_eq!(
        store.create_queue(&queue("a_q")).await.expect("create"),
        None
    );
    assert_eq!(
        store.create_queue(&queue("aXq")).await.expect("create"),
        None
    );
    let mut other = queue("a_q");
    other
        .attributes
        .insert("VisibilityTimeout".into(), "60".into());
    let existing = store.create_queue(&other).await.expect("create again");
    assert_eq!(
        existing.map(|q| q.attributes),
        Some(queue("a_q").attributes)
    );
    let names = |qs: Vec<QueueRecord>| qs.into_iter().map(|q| q.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_queues("", None, 10).await.expect("list")),
        ["aXq", "a_q", "b-q"]
    );
    // `_` is no wildcard.
    assert_eq!(
        names(store.list_queues("a_", None, 10).await.expect("list")),
        ["a_q"]
    );
    assert_eq!(
        names(store.list_queues("", Some("aXq"), 1).await.expect("list")),
        ["a_q"]
    );

    let changed = store
        .set_queue_attributes(
            "a_q",
            &BTreeMap::from([
                ("DelaySeconds".to_string(), "5".to_string()),
                ("VisibilityTimeout".to_string(), String::new()),
            ]),
            7,
        )
        .await
        .expect("set");
    assert_eq!(changed.modified_ms, 7);
    assert_eq!(
        changed.attributes,
        BTreeMap::from([("DelaySeconds".to_string(), "5".to_string())])
    );
    let tagged = store
        .tag_queue(
            "a_q",
            &BTreeMap::from([
                ("k".to_string(), "v".to_string()),
                ("x".to_string(), "y".to_string()),
            ]),
            &[],
        )
        .await
        .expect("tag");
    assert_eq!(tagged.tags.len(), 2);
    let untagged = store
        .tag_queue("a_q", &BTreeMap::new(), &["x".to_string()])
        .await
        .expect("untag");
    assert_eq!(
        untagged.tags,
        BTreeMap::from([("k".to_string(), "v".to_string())])
    );
    // Tags and attributes do not overwrite one another.
    let q = store.get_queue("a_q").await.expect("get").expect("exists");
    assert_eq!((q.attributes.len(), q.tags.len(), q.modified_ms), (1, 1, 7));

    assert!(store.delete_queue("a_q").await.expect("delete"));
    assert!(!store.delete_queue("a_q").await.expect("delete again"));
    assert!(matches!(
        store.set_queue_attributes("a_q", &BTreeMap::new(), 8).await,
        Err(QueueStoreError::QueueNotFound(_))
    ));
    assert!(matches!(
        store
            .send_messages("a_q", &[message("m", "b", None, None)], 1, 0)
            .await,
        Err(QueueStoreError::QueueNotFound(_))
    ));
}

async fn messages_are_received_once_until_their_visibility_ends(store: &dyn QueueStore) {
    store.create_queue(&queue("std")).await.expect("create");
    let sent = store
        .send_messages(
            "std",
            &[
                message("m1", "one", None, None),
                message("m2", "two", None, None),
            ],
            1_000,
            0,
        )
        .await
        .expect("send");
    assert_eq!(
        sent.iter()
            .map(|s| s.message_id.as_str())
            .collect::<Vec<_>>(),
        ["m1", "m2"]
    );
    let first = store
        .receive_messages("std", &receive(1, 1_000, false))
        .await
        .expect("receive");
    assert_eq!(first.messages.len(), 1);
    let m = &first.messages[0];
    assert_eq!(
        (m.receive_count, m.first_receive_ms, m.visible_at),
        (1, Some(1_000), 31_000)
    );
    assert_eq!(
        m.record.attributes["bin"].binary_value,
        Some(vec![0, 1, 255])
    );
    let second = store
        .receive_messages("std", &receive(10, 1_000, false))
        .await
        .expect("receive");
    assert_eq!(second.messages.len(), 1);
    assert_ne!(second.messages[0].message_id, m.message_id);
    assert_eq!(second.next_visible_ms, Some(31_000));
    let counts = store
        .queue_counts("std", 1_000, 1_000_000)
        .await
        .expect("counts");
    assert_eq!(
        (counts.visible, counts.in_flight, counts.delayed),
        (0, 2, 0)
    );

    // Peeking changes nothing.
    let peeked = store.peek_messages("std", 0, 10).await.expect("peek");
    assert_eq!(peeked.len(), 2);
    assert_eq!(
        store.peek_messages("std", 0, 10).await.expect("peek"),
        peeked
    );

    // After the visibility timeout, the message comes back with a new receipt.
    let again = store
        .receive_messages("std", &receive(1, 31_000, false))
        .await
        .expect("receive");
    let again = &again.messages[0];
    assert_eq!(again.message_id, m.message_id);
    assert_eq!(
        (again.receive_count, again.first_receive_ms),
        (2, Some(1_000))
    );
    // The old receipt neither deletes nor changes it.
    assert_eq!(
        store
            .delete_messages("std", &[receipt(m)])
            .await
            .expect("delete"),
        [false]
    );
    assert_eq!(
        store
            .change_visibility("std", &[(receipt(m), 0)], 31_000)
            .await
            .expect("change"),
        [VisibilityChange::NotFound]
    );
    // The new one does; a visible message is not in flight.
    assert_eq!(
        store
            .change_visibility("std", &[(receipt(again), 31_000)], 31_000)
            .await
            .expect("change"),
        [VisibilityChange::Changed]
    );
    assert_eq!(
        store
            .change_visibility("std", &[(receipt(again), 40_000)], 31_000)
            .await
            .expect("change"),
        [VisibilityChange::NotInFlight]
    );
    let third = store
        .receive_messages("std", &receive(1, 31_000, false))
        .await
        .expect("receive");
    let third = &third.messages[0];
    assert_eq!(
        store
            .delete_messages("std", &[receipt(third), receipt(third)])
            .await
            .expect("delete"),
        [true, false]
    );
    assert_eq!(
        store.peek_messages("std", 0, 10).await.expect("peek").len(),
        1
    );
    assert_eq!(store.purge_queue("std").await.expect("purge"), 1);
    assert!(store
        .receive_messages("std", &receive(10, 100_000, false))
        .await
        .expect("receive")
        .messages
        .is_empty());

    // Delayed messages are counted apart and received when due; old ones expire.
    let mut delayed = message("d", "later", None, None);
    delayed.delay_ms = 5_000;
    store
        .send_messages(
            "std",
            &[delayed, message("old", "x", None, None)],
            200_000,
            0,
        )
        .await
        .expect("send");
    let counts = store
        .queue_counts("std", 200_000, 1_000_000)
        .await
        .expect("counts");
    assert_eq!(
        (counts.visible, counts.in_flight, counts.delayed),
        (1, 0, 1)
    );
    let r = store
        .receive_messages("std", &receive(10, 200_000, false))
        .await
        .expect("receive");
    assert_eq!(r.messages.len(), 1);
    assert_eq!(r.next_visible_ms, Some(205_000));
    let mut short = receive(10, 205_000, false);
    short.retention_ms = 1_000;
    assert!(store
        .receive_messages("std", &short)
        .await
        .expect("receive")
        .messages
        .is_empty());
    assert_eq!(
        store.peek_messages("std", 0, 10).await.expect("peek").len(),
        0
    );
}

async fn fifo_groups_keep_order_and_duplicates_are_dropped(store: &dyn QueueStore) {
    store.create_queue(&queue("f.fifo")).await.expect("create");
    let sent = store
        .send_messages(
            "f.fifo",
            &[
                message("a1", "a1", Some("a"), Some("d1")),
                message("a2", "a2", Some("a"), Some("d2")),
                message("b1", "b1", Some("b"), Some("d3")),
                message("dup", "a1", Some("a"), Some("d1")),
            ],
            1_000,
            300_000,
        )
        .await
        .expect("send");
    assert_eq!(sent[3].message_id, "a1");
    assert!(sent[3].duplicate && !sent[0].duplicate);
    assert!(sent[0].sequence_number < sent[1].sequence_number);
    assert_eq!(sent[3].sequence_number, sent[0].sequence_number);
    let again = store
        .send_messages(
            "f.fifo",
            &[message("dup2", "a1", Some("a"), Some("d1"))],
            2_000,
            300_000,
        )
        .await
        .expect("send");
    assert!(again[0].duplicate);
    // Once the interval passed, the same id is a new message.
    let later = store
        .send_messages(
            "f.fifo",
            &[message("a3", "a3", Some("a"), Some("d1"))],
            301_001,
            300_000,
        )
        .await
        .expect("send");
    assert!(!later[0].duplicate);

    let one = store
        .receive_messages("f.fifo", &receive(1, 301_001, true))
        .await
        .expect("receive");
    assert_eq!(one.messages[0].message_id, "a1");
    // Group a is blocked while a1 is in flight; b is not.
    let next = store
        .receive_messages("f.fifo", &receive(10, 301_001, true))
        .await
        .expect("receive");
    assert_eq!(
        next.messages
            .iter()
            .map(|m| m.message_id.as_str())
            .collect::<Vec<_>>(),
        ["b1"]
    );
    assert_eq!(
        store
            .delete_messages("f.fifo", &[receipt(&one.messages[0])])
            .await
            .expect("delete"),
        [true]
    );
    let rest = store
        .receive_messages("f.fifo", &receive(10, 301_001, true))
        .await
        .expect("receive");
    assert_eq!(
        rest.messages
            .iter()
            .map(|m| m.message_id.as_str())
            .collect::<Vec<_>>(),
        ["a2", "a3"]
    );
}

async fn messages_received_too_often_move_to_the_dead_letter_queue(store: &dyn QueueStore) {
    store.create_queue(&queue("src")).await.expect("create");
    store.create_queue(&queue("dlq")).await.expect("create");
    store
        .send_messages("src", &[message("m", "poison", None, None)], 0, 0)
        .await
        .expect("send");
    let mut r = receive(10, 0, false);
    r.visibility_ms = 0;
    r.dead_letter = Some(DeadLetter {
        queue: "dlq".into(),
        max_receive_count: 2,
    });
    for n in 1..=2 {
        let got = store.receive_messages("src", &r).await.expect("receive");
        assert_eq!(got.messages[0].receive_count, n);
    }
    let third = store.receive_messages("src", &r).await.expect("receive");
    assert!(third.messages.is_empty());
    assert_eq!(third.moved_to_dead_letter, 1);
    let in_dlq = store.peek_messages("dlq", 0, 10).await.expect("peek");
    assert_eq!(in_dlq.len(), 1);
    assert_eq!(
        (
            in_dlq[0].message_id.as_str(),
            in_dlq[0].source_queue.as_deref()
        ),
        ("m", Some("src"))
    );
    // A direct send to the dead-letter queue has no source.
    store
        .send_messages("dlq", &[message("direct", "x", None, None)], 0, 0)
        .await
        .expect("send");
    assert_eq!(
        store
            .redrive("dlq", "src", false, 5)
            .await
            .expect("redrive"),
        1
    );
    let back = store.peek_messages("src", 0, 10).await.expect("peek");
    assert_eq!(
        (
            back[0].receive_count,
            back[0].visible_at,
            back[0].source_queue.clone()
        ),
        (0, 5, None)
    );
    assert_eq!(
        store.redrive("dlq", "src", true, 5).await.expect("redrive"),
        1
    );
    assert!(store
        .peek_messages("dlq", 0, 10)
        .await
        .expect("peek")
        .is_empty());
}

async fn concurrent_receivers_never_share_a_message(store: Arc<dyn QueueStore>) {
    store.create_queue(&queue("race")).await.expect("create");
    let batch: Vec<NewMessage> = (0..200)
        .map(|i| message(&format!("m{i}"), "x", None, None))
        .collect();
    store
        .send_messages("race", &batch, 0, 0)
        .await
        .expect("send");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let r = store
                        .receive_messages("race", &receive(10, 0, false))
                        .await
                        .expect("receive");
                    if r.messages.is_empty() {
                        return got;
                    }
                    got.extend(r.messages.into_iter().map(|m| m.message_id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!((n, all.len()), (200, 200), "every message exactly once");
}

async fn writes_of_many_callers_commit_together_each_with_its_outcome(store: &dyn QueueStore) {
    store.create_queue(&queue("many-a")).await.expect("create");
    store
        .create_queue(&queue("many-b.fifo"))
        .await
        .expect("create");
    let send = |q: &str, m: Vec<NewMessage>| QueueWrite::Send {
        queue: q.into(),
        messages: m,
        dedup_ms: 300_000,
    };
    let writes = [
        send(
            "many-a",
            vec![
                message("x1", "x", None, None),
                message("x2", "x", None, None),
            ],
        ),
        send("gone", vec![message("g1", "g", None, None)]),
        send(
            "many-b.fifo",
            vec![message("f1", "f", Some("g"), Some("d"))],
        ),
        send(
            "many-b.fifo",
            vec![message("f2", "f", Some("g"), Some("d"))],
        ),
        // A receive in the same batch sees the sends before it, and claims once.
        QueueWrite::Receive {
            queue: "many-a".into(),
            receive: receive(1, 0, false),
        },
        QueueWrite::Receive {
            queue: "many-a".into(),
            receive: receive(10, 0, false),
        },
    ];
    let out = store.apply_many(&writes, 10).await.expect("apply");
    assert_eq!(out.len(), 6);
    let sent = |i: usize| match &out[i] {
        Ok(QueueWritten::Sent(s)) => s.clone(),
        other => panic!("write {i}: {other:?}"),
    };
    assert_eq!(sent(0).len(), 2);
    assert!(matches!(out[1], Err(QueueStoreError::QueueNotFound(_))));
    // A later write of the same transaction sees the earlier one's deduplication id.
    let (f1, f2) = (sent(2), sent(3));
    assert!(!f1[0].duplicate && f2[0].duplicate && f2[0].message_id == "f1");
    let got = |i: usize| match &out[i] {
        Ok(QueueWritten::Received(r)) => r.messages.clone(),
        other => panic!("write {i}: {other:?}"),
    };
    let (first, second) = (got(4), got(5));
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_ne!(first[0].message_id, second[0].message_id);
    // The receive took the batch's time.
    assert_eq!(first[0].first_receive_ms, Some(10));
    let more = [
        QueueWrite::Delete {
            queue: "many-a".into(),
            receipts: vec![receipt(&first[0])],
        },
        QueueWrite::ChangeVisibility {
            queue: "many-a".into(),
            changes: vec![(receipt(&second[0]), 20)],
        },
    ];
    let out = store.apply_many(&more, 11).await.expect("apply");
    assert_eq!(
        out[0].as_ref().ok(),
        Some(&QueueWritten::Deleted(vec![true]))
    );
    assert_eq!(
        out[1].as_ref().ok(),
        Some(&QueueWritten::VisibilityChanged(vec![
            VisibilityChange::Changed
        ]))
    );
    assert_eq!(
        store
            .peek_messages("many-a", 0, 10)
            .await
            .expect("peek")
            .len(),
        1
    );
    assert_eq!(
        store
            .peek_messages("many-b.fifo", 0, 10)
            .await
            .expect("peek")
            .len(),
        1
    );
}

async fn contract(store: Arc<dyn QueueStore>) {
    queues_are_created_listed_changed_and_deleted(store.as_ref()).await;
    writes_of_many_callers_commit_together_each_with_its_outcome(store.as_ref()).await;
    messages_are_received_once_until_their_visibility_ends(store.as_ref()).await;
    fifo_groups_keep_order_and_duplicates_are_dropped(store.as_ref()).await;
    messages_received_too_often_move_to_the_dead_letter_queue(store.as_ref()).await;
    concurrent_receivers_never_share_a_message(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_meets_the_queue_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nimbus.db");
    let store = Arc::new(SqliteStore::open(&path).await.expect("open"));
    contract(store).await;
    // What was committed is there after reopening; deleting a queue took its messages.
    let store = SqliteStore::open(&path).await.expect("reopen");
    assert_eq!(
        store.peek_messages("src", 0, 10).await.expect("peek").len(),
        2
    );
    assert!(store.delete_queue("src").await.expect("delete"));
    store.create_queue(&queue("src")).await.expect("create");
    assert!(store
        .peek_messages("src", 0, 10)
        .await
        .expect("peek")
        .is_empty());
    assert!(crate::Store::integrity_check(&store)
        .await
        .expect("check")
        .is_empty());
}

#[tokio::test]
async fn a_corrupt_record_fails_its_own_write_and_no_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("nimbus.db"))
        .await
        .expect("open");
    store.create_queue(&queue("bad")).await.expect("create");
    store.create_queue(&queue("good")).await.expect("create");
    store
        .send_messages("bad", &[message("b1", "x", None, None)], 0, 0)
        .await
        .expect("send");
    sqlx::query("UPDATE queue_messages SET record = 'not json' WHERE queue = 'bad'")
        .execute(&store.writer)
        .await
        .expect("corrupt");
    let writes = [
        QueueWrite::Receive {
            queue: "bad".into(),
            receive: receive(10, 0, false),
        },
        QueueWrite::Send {
            queue: "good".into(),
            messages: vec![message("g1", "y", None, None)],
            dedup_ms: 0,
        },
    ];
    let out = store.apply_many(&writes, 5).await.expect("apply");
    assert!(
        matches!(out[0], Err(QueueStoreError::Store(_))),
        "{:?}",
        out[0]
    );
    assert!(matches!(out[1], Ok(QueueWritten::Sent(_))));
    // The failed receive claimed nothing; the send is stored.
    let row = sqlx::query_scalar::<_, i64>(
        "SELECT receive_count FROM queue_messages WHERE queue = 'bad'",
    )
    .fetch_one(&store.pool)
    .await
    .expect("row");
    assert_eq!(row, 0);
    assert_eq!(
        store
            .peek_messages("good", 0, 10)
            .await
            .expect("peek")
            .len(),
        1
    );
}
