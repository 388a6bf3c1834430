//! The contract every [`ScheduleStore`] backend must meet, written against the traits: SQLite
//! runs it here; a PostgreSQL backend runs the same function.

use nimbus_model::scheduler::{
    AfterCompletion, FlexibleWindow, RetryPolicy, Schedule, ScheduleGroup, ScheduleState, Target,
};

use crate::{Due, EventStore, FireSchedule, NewEvent, ScheduleStore, SqliteStore, StoreError};

fn group(name: &str) -> ScheduleGroup {
    ScheduleGroup {
        name: name.into(),
        region: "us-east-1".into(),
        account: "000000000000".into(),
        created_ms: 1,
        modified_ms: 1,
        tags: Default::default(),
    }
}

fn schedule(group: &str, name: &str, state: ScheduleState) -> Schedule {
    Schedule {
        group: group.into(),
        name: name.into(),
        region: "us-east-1".into(),
        account: "000000000000".into(),
        expression: "rate(1 minute)".into(),
        time_zone: None,
        start_ms: None,
        end_ms: None,
        description: None,
        state,
        kms_key_arn: None,
        target: Target {
            arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            role_arn: "arn:aws:iam::000000000000:role/r".into(),
            function: "f".into(),
            qualifier: String::new(),
            input: None,
            retry: RetryPolicy::default(),
            dead_letter_arn: None,
        },
        window: FlexibleWindow { max_minutes: None },
        after_completion: AfterCompletion::None,
        created_ms: 1,
        modified_ms: 1,
    }
}

fn due(ms: i64) -> Option<Due> {
    Some(Due {
        due_ms: ms,
        fire_ms: ms + 5,
    })
}

fn event(id: &str) -> NewEvent {
    NewEvent {
        function: "f".into(),
        qualifier: String::new(),
        region: "us-east-1".into(),
        request_id: id.into(),
        payload: b"{}".to_vec(),
        client_context: None,
        trace_header: None,
        enqueued_ms: 10,
        chain: 0,
    }
}

async fn contract<S: ScheduleStore + EventStore>(store: &S) {
    store
        .create_group(&group("default"))
        .await
        .expect("default");
    assert!(matches!(
        store.create_group(&group("default")).await,
        Err(StoreError::AlreadyExists(_))
    ));
    store.create_group(&group("ops")).await.expect("ops");
    store.create_group(&group("ops_b")).await.expect("ops_b");
    // A prefix is literal: `_` matches only itself.
    let listed = store
        .list_groups(Some("ops_"), None, 10)
        .await
        .expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let page = store
        .list_groups(None, Some("default"), 1)
        .await
        .expect("page");
    assert_eq!(page[0].name, "ops");

    let a = schedule("default", "a", ScheduleState::Enabled);
    store.create_schedule(&a, due(100)).await.expect("a");
    assert!(matches!(
        store.create_schedule(&a, due(100)).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        store
            .create_schedule(&schedule("nope", "a", ScheduleState::Enabled), due(1))
            .await,
        Err(StoreError::NotFound(_))
    ));
    let off = schedule("ops", "b", ScheduleState::Disabled);
    store.create_schedule(&off, None).await.expect("b");
    store
        .create_schedule(&schedule("ops", "c", ScheduleState::Enabled), due(50))
        .await
        .expect("c");
    let got = store.get_schedule("default", "a").await.expect("get");
    assert_eq!(got, Some((a.clone(), due(100))));
    let all = store
        .list_schedules(None, None, None, None, 10)
        .await
        .expect("all");
    let names: Vec<_> = all
        .iter()
        .map(|s| format!("{}/{}", s.group, s.name))
        .collect();
    assert_eq!(names, ["default/a", "ops/b", "ops/c"]);
    let enabled = store
        .list_schedules(
            None,
            None,
            Some(ScheduleState::Enabled),
            Some(("default", "a")),
            1,
        )
        .await
        .expect("enabled");
    assert_eq!(enabled.len(), 1);
    assert_eq!(enabled[0].name, "c");
    assert_eq!(store.next_schedule_fire().await.expect("next"), Some(55));
    let due_now = store.due_schedules(104, 10).await.expect("due");
    assert_eq!(due_now.len(), 1, "{due_now:?}");
    assert_eq!(due_now[0].schedule.name, "c");

    // Firing: the event and the next time in one step, once.
    let fire = FireSchedule {
        group: "ops".into(),
        name: "c".into(),
        expected: due(50).expect("due"),
        event: Some(event("e1")),
        next: due(110),
        delete: false,
    };
    assert!(store.fire_schedule(&fire).await.expect("fire"));
    assert!(
        !store.fire_schedule(&fire).await.expect("again"),
        "fired twice"
    );
    assert_eq!(store.count_events(Some("f")).await.expect("count"), 1);
    assert_eq!(
        store
            .get_schedule("ops", "c")
            .await
            .expect("get")
            .map(|g| g.1),
        Some(due(110))
    );
    // An update moves its time; a fire for the old time is then refused.
    store.update_schedule(&a, due(300)).await.expect("update");
    let stale = FireSchedule {
        group: "default".into(),
        name: "a".into(),
        expected: due(100).expect("due"),
        event: Some(event("e2")),
        next: due(160),
        delete: false,
    };
    assert!(!store.fire_schedule(&stale).await.expect("stale"));
    assert_eq!(store.count_events(Some("f")).await.expect("count"), 1);
    // Nothing more to fire, and delete: gone.
    let last = FireSchedule {
        expected: due(300).expect("due"),
        next: None,
        delete: true,
        event: None,
        ..stale
    };
    assert!(store.fire_schedule(&last).await.expect("last"));
    assert_eq!(store.get_schedule("default", "a").await.expect("get"), None);
    assert!(matches!(
        store.update_schedule(&a, None).await,
        Err(StoreError::NotFound(_))
    ));
    // A group takes its schedules along.
    assert!(store.delete_group("ops").await.expect("delete group"));
    assert_eq!(store.get_schedule("ops", "b").await.expect("get"), None);
    assert!(!store.delete_group("ops").await.expect("again"));
    assert!(!store.delete_schedule("default", "a").await.expect("gone"));
}

#[tokio::test]
async fn sqlite_meets_the_schedule_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("nimbus.db"))
        .await
        .expect("open");
    contract(&store).await;
}
