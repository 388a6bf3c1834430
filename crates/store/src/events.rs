//! The durable queue of asynchronous invocations, and the event invoke configurations that
//! say how they are retried and where their records go.
//!
//! Contract: an event stored by [`EventStore::enqueue_events`] stays until
//! it is deleted; a claim hides it from other claims until it is
//! rescheduled or its lease is released; nothing a crash interrupts is lost.

use nimbus_model::esm::EventSourceMapping;
use nimbus_model::event_invoke::EventInvokeConfig;

use crate::StoreFuture;

/// An event to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The function's name.
    pub function: String,
    /// The qualifier it was invoked with (`""`: none).
    pub qualifier: String,
    /// The region it was invoked in.
    pub region: String,
    /// The invocation's id (the 202's `x-amzn-RequestId`).
    pub request_id: String,
    /// The event.
    pub payload: Vec<u8>,
    /// The decoded client context, if any.
    pub client_context: Option<String>,
    /// The caller's `X-Amzn-Trace-Id`.
    pub trace_header: Option<String>,
    /// When it was accepted, epoch ms.
    pub enqueued_ms: i64,
    /// How many invocation records this event descends from (0: a caller's own).
    pub chain: u32,
}

/// A stored event, as a claim returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The store's id.
    pub id: i64,
    /// What was accepted.
    pub event: NewEvent,
    /// Invocations of the function made so far.
    pub attempts: u32,
    /// Throttles and system errors met so far (the backoff's exponent).
    pub throttles: u32,
}

/// A claimed event back to the queue, due at `due_ms`, with its new counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reschedule {
    /// The store's id.
    pub id: i64,
    /// When it may next be dispatched, epoch ms.
    pub due_ms: i64,
    /// Invocations of the function made so far.
    pub attempts: u32,
    /// Throttles and system errors met so far.
    pub throttles: u32,
}

/// Changes to the queue made together, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventWrites {
    /// Events to store.
    pub enqueue: Vec<NewEvent>,
    /// Claimed events to return to the queue.
    pub reschedule: Vec<Reschedule>,
    /// Events done with, by id (ids that are gone are no error).
    pub delete: Vec<i64>,
    /// Then, in the same transaction, a claim (see [`EventStore::claim_events`]): events
    /// stored by this very batch may be among those it claims.
    pub claim: Option<Claim>,
}

/// Up to `limit` of the events due at `now_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The time events must be due by, epoch ms.
    pub now_ms: i64,
    /// Most events claimed.
    pub limit: usize,
}

impl EventWrites {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.enqueue.is_empty()
            && self.reschedule.is_empty()
            && self.delete.is_empty()
            && self.claim.is_none_or(|c| c.limit == 0)
    }
}

/// Durable asynchronous invocations. Every method is atomic.
pub trait EventStore: Send + Sync {
    /// Applies `writes` in one transaction (one commit, however many); returns the events
    /// its claim took (none without one).
    fn write_events<'a>(&'a self, writes: &'a EventWrites) -> StoreFuture<'a, Vec<StoredEvent>>;
    /// Stores `events` in one transaction.
    fn enqueue_events<'a>(&'a self, events: &'a [NewEvent]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write_events(&EventWrites {
                enqueue: events.to_vec(),
                ..EventWrites::default()
            })
            .await
            .map(drop)
        })
    }
    /// Claims up to `limit` of the events due at `now_ms` (the longest due first), oldest
    /// first: none of them is claimed
    /// again until rescheduled or released.
    fn claim_events(&self, now_ms: i64, limit: usize) -> StoreFuture<'_, Vec<StoredEvent>> {
        Box::pin(async move {
            self.write_events(&EventWrites {
                claim: Some(Claim { now_ms, limit }),
                ..EventWrites::default()
            })
            .await
        })
    }
    /// Returns a claimed event to the queue.
    fn reschedule_event(&self, r: Reschedule) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.write_events(&EventWrites {
                reschedule: vec![r],
                ..EventWrites::default()
            })
            .await
            .map(drop)
        })
    }
    /// Removes an event that is done with.
    fn delete_event(&self, id: i64) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.write_events(&EventWrites {
                delete: vec![id],
                ..EventWrites::default()
            })
            .await
            .map(drop)
        })
    }
    /// Releases every claim (at start-up: a crash left them unfinished); returns how many.
    fn release_event_claims(&self) -> StoreFuture<'_, u64>;
    /// When the earliest unclaimed event is due, if there is one.
    fn next_event_due(&self) -> StoreFuture<'_, Option<i64>>;
    /// Events stored (claimed or not), for `function` or for all.
    fn count_events<'a>(&'a self, function: Option<&'a str>) -> StoreFuture<'a, u64>;

    /// The configuration of `function` at `qualifier` (`$LATEST`, a version, an alias).
    fn get_event_invoke_config<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
    ) -> StoreFuture<'a, Option<EventInvokeConfig>>;
    /// Stores a configuration, replacing the one of its function and qualifier;
    /// `NotFound` if the function is gone.
    fn put_event_invoke_config<'a>(&'a self, config: &'a EventInvokeConfig) -> StoreFuture<'a, ()>;
    /// Deletes the configuration of `function` at `qualifier`; whether there was one.
    fn delete_event_invoke_config<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
    ) -> StoreFuture<'a, bool>;
    /// Stores a mapping, replacing the one of its id; `NotFound` if its function is gone.
    fn put_mapping<'a>(&'a self, m: &'a EventSourceMapping) -> StoreFuture<'a, ()>;
    /// The mapping `uuid`.
    fn get_mapping<'a>(&'a self, uuid: &'a str) -> StoreFuture<'a, Option<EventSourceMapping>>;
    /// Up to `limit` mappings in id order after `after`, of `function` and of `source` if given.
    fn list_mappings<'a>(
        &'a self,
        function: Option<&'a str>,
        source: Option<&'a str>,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<EventSourceMapping>>;
    /// Deletes mapping `uuid`; whether there was one.
    fn delete_mapping<'a>(&'a self, uuid: &'a str) -> StoreFuture<'a, bool>;

    /// Up to `limit` configurations of `function` in qualifier order, after `after`.
    fn list_event_invoke_configs<'a>(
        &'a self,
        function: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<EventInvokeConfig>>;
}

#[cfg(test)]
pub(crate) mod contract {
    use super::*;
    use crate::{SqliteStore, Store, StoreError};

    fn event(function: &str, n: u8, at: i64) -> NewEvent {
        NewEvent {
            function: function.into(),
            qualifier: String::new(),
            region: "us-east-1".into(),
            request_id: format!("req-{n}"),
            payload: vec![b'{', b'}', n],
            client_context: n.is_multiple_of(2).then(|| "{\"custom\":{}}".into()),
            trace_header: None,
            enqueued_ms: at,
            chain: u32::from(n),
        }
    }

    pub(crate) async fn queue(store: &dyn EventStore) {
        assert_eq!(store.next_event_due().await.expect("store"), None);
        let batch: Vec<NewEvent> = (0..5).map(|n| event("f", n, 100 + i64::from(n))).collect();
        store.enqueue_events(&batch).await.expect("store");
        store.enqueue_events(&[]).await.expect("store");
        assert_eq!(store.count_events(None).await.expect("store"), 5);
        assert_eq!(store.count_events(Some("f")).await.expect("store"), 5);
        assert_eq!(store.count_events(Some("g")).await.expect("store"), 0);
        assert_eq!(store.next_event_due().await.expect("store"), Some(100));

        // Due ones only, earliest first, each claimed once.
        let first = store.claim_events(102, 10).await.expect("store");
        let ids: Vec<&str> = first.iter().map(|e| e.event.request_id.as_str()).collect();
        assert_eq!(ids, ["req-0", "req-1", "req-2"]);
        assert_eq!(first[0].event, batch[0], "stored as given");
        assert_eq!((first[0].attempts, first[0].throttles), (0, 0));
        assert!(store.claim_events(102, 10).await.expect("store").is_empty());
        assert_eq!(store.next_event_due().await.expect("store"), Some(103));
        let limited = store.claim_events(1_000, 1).await.expect("store");
        assert_eq!(limited.len(), 1);
        assert_eq!(limited[0].event.request_id, "req-3");

        // Rescheduled: due again later, with its counts.
        store
            .reschedule_event(Reschedule {
                id: first[0].id,
                due_ms: 5_000,
                attempts: 1,
                throttles: 2,
            })
            .await
            .expect("store");
        let early = store.claim_events(4_999, 10).await.expect("store");
        let early: Vec<&str> = early.iter().map(|e| e.event.request_id.as_str()).collect();
        assert_eq!(early, ["req-4"], "not before it is due again");
        let again = store.claim_events(5_000, 10).await.expect("store");
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].attempts, again[0].throttles), (1, 2));

        // Deleted: gone for good.
        store.delete_event(first[1].id).await.expect("store");
        store
            .delete_event(first[1].id)
            .await
            .expect("an id that is gone is no error");
        assert_eq!(store.count_events(None).await.expect("store"), 4);

        // Together: all or nothing, in one transaction.
        let both = EventWrites {
            enqueue: vec![event("g", 9, 50)],
            delete: vec![limited[0].id],
            ..EventWrites::default()
        };
        store.write_events(&both).await.expect("store");
        assert_eq!(store.count_events(Some("g")).await.expect("store"), 1);
        let stored_and_claimed = store
            .write_events(&EventWrites {
                enqueue: vec![event("h", 7, 60)],
                claim: Some(Claim {
                    now_ms: 60,
                    limit: 10,
                }),
                ..EventWrites::default()
            })
            .await
            .expect("store");
        let ids: Vec<&str> = stored_and_claimed
            .iter()
            .map(|e| e.event.request_id.as_str())
            .collect();
        assert_eq!(ids, ["req-9", "req-7"], "a batch claims what it stored");
        store
            .write_events(&EventWrites {
                reschedule: stored_and_claimed
                    .iter()
                    .map(|e| Reschedule {
                        id: e.id,
                        due_ms: 50,
                        attempts: 0,
                        throttles: 0,
                    })
                    .collect(),
                ..EventWrites::default()
            })
            .await
            .expect("store");
        store
            .delete_event(stored_and_claimed[1].id)
            .await
            .expect("store");
        assert_eq!(store.count_events(Some("f")).await.expect("store"), 3);
        assert!(EventWrites::default().is_empty());
        store
            .write_events(&EventWrites::default())
            .await
            .expect("nothing to write");

        // A crash's claims come back.
        assert_eq!(store.release_event_claims().await.expect("store"), 3);
        let back = store.claim_events(10_000, 10).await.expect("store");
        let mut ids: Vec<&str> = back.iter().map(|e| e.event.request_id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["req-0", "req-2", "req-4", "req-9"]);
    }

    pub(crate) async fn configs(store: &dyn EventStore, functions: &dyn Store) {
        let config = |q: &str, retries: Option<u32>| EventInvokeConfig {
            function: "f".into(),
            qualifier: q.into(),
            maximum_retry_attempts: retries,
            maximum_event_age_seconds: Some(60),
            on_success: None,
            on_failure: Some("arn:aws:sqs:us-east-1:000000000000:q".into()),
            last_modified_ms: 7,
        };
        assert!(matches!(
            store
                .put_event_invoke_config(&config("$LATEST", None))
                .await,
            Err(StoreError::NotFound(_))
        ));
        functions
            .create_function(&crate::tests::function("f", "r1"))
            .await
            .expect("store");
        store
            .put_event_invoke_config(&config("$LATEST", None))
            .await
            .expect("store");
        store
            .put_event_invoke_config(&config("live", Some(0)))
            .await
            .expect("store");
        store
            .put_event_invoke_config(&config("$LATEST", Some(1)))
            .await
            .expect("store");
        assert_eq!(
            store
                .get_event_invoke_config("f", "$LATEST")
                .await
                .expect("store"),
            Some(config("$LATEST", Some(1))),
            "put replaces"
        );
        assert_eq!(
            store
                .get_event_invoke_config("f", "1")
                .await
                .expect("store"),
            None
        );
        let page = store
            .list_event_invoke_configs("f", None, 1)
            .await
            .expect("store");
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].qualifier, "$LATEST");
        let rest = store
            .list_event_invoke_configs("f", Some("$LATEST"), 10)
            .await
            .expect("store");
        assert_eq!(rest, [config("live", Some(0))]);
        assert!(store
            .delete_event_invoke_config("f", "live")
            .await
            .expect("store"));
        assert!(!store
            .delete_event_invoke_config("f", "live")
            .await
            .expect("store"));
        // Gone with the function.
        functions.delete_function("f").await.expect("store");
        assert_eq!(
            store
                .get_event_invoke_config("f", "$LATEST")
                .await
                .expect("store"),
            None
        );
    }

    pub(crate) async fn mappings(store: &dyn EventStore, functions: &dyn Store) {
        let m = |uuid: &str, function: &str, source: &str| EventSourceMapping {
            uuid: uuid.into(),
            function: function.into(),
            qualifier: None,
            source_arn: source.into(),
            batch_size: 10,
            batching_window_seconds: 0,
            filters: vec!["{}".into()],
            report_batch_item_failures: true,
            maximum_concurrency: Some(2),
            enabled: true,
            state: "Creating".into(),
            last_modified_ms: 1,
        };
        assert!(matches!(
            store.put_mapping(&m("a", "m1", "q1")).await,
            Err(StoreError::NotFound(_))
        ));
        for f in ["m1", "m2"] {
            functions
                .create_function(&crate::tests::function(f, "r1"))
                .await
                .expect("create");
        }
        store.put_mapping(&m("b", "m1", "q1")).await.expect("put");
        store.put_mapping(&m("a", "m2", "q1")).await.expect("put");
        store.put_mapping(&m("c", "m1", "q2")).await.expect("put");
        let mut enabled = m("c", "m1", "q2");
        enabled.state = "Enabled".into();
        store.put_mapping(&enabled).await.expect("replace");
        assert_eq!(store.get_mapping("c").await.expect("get"), Some(enabled));
        let ids = |v: Vec<EventSourceMapping>| v.into_iter().map(|m| m.uuid).collect::<Vec<_>>();
        assert_eq!(
            ids(store
                .list_mappings(None, None, None, 10)
                .await
                .expect("list")),
            ["a", "b", "c"]
        );
        assert_eq!(
            ids(store
                .list_mappings(Some("m1"), None, None, 10)
                .await
                .expect("list")),
            ["b", "c"]
        );
        assert_eq!(
            ids(store
                .list_mappings(None, Some("q1"), Some("a"), 10)
                .await
                .expect("list")),
            ["b"]
        );
        assert_eq!(
            ids(store
                .list_mappings(Some("m1"), Some("q2"), None, 1)
                .await
                .expect("list")),
            ["c"]
        );
        assert!(store.delete_mapping("b").await.expect("delete"));
        assert!(!store.delete_mapping("b").await.expect("delete"));
        functions
            .delete_function("m1")
            .await
            .expect("delete function");
        assert_eq!(
            store.get_mapping("c").await.expect("get"),
            None,
            "gone with its function"
        );
    }

    #[tokio::test]
    async fn sqlite_meets_the_event_contract() {
        let dir = tempfile::tempdir().expect("store");
        let store = SqliteStore::open(&dir.path().join("nimbus.db"))
            .await
            .expect("store");
        queue(&store).await;
        configs(&store, &store).await;
        mappings(&store, &store).await;
    }

    #[tokio::test]
    async fn events_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("store");
        let path = dir.path().join("nimbus.db");
        {
            let store = SqliteStore::open(&path).await.expect("store");
            store
                .enqueue_events(&[event("f", 1, 5)])
                .await
                .expect("store");
            assert_eq!(store.claim_events(5, 10).await.expect("store").len(), 1);
        }
        let store = SqliteStore::open(&path).await.expect("store");
        assert_eq!(store.release_event_claims().await.expect("store"), 1);
        let back = store.claim_events(5, 10).await.expect("store");
        assert_eq!(back[0].event, event("f", 1, 5));
    }
}
