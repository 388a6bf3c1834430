//! The contract every Store backend must meet. Run against SQLite here; the PostgreSQL backend
//! runs the same functions when it arrives.

use std::collections::BTreeMap;

use nimbus_model::{CodeRef, Function, LastUpdateStatus, Settings, State};

use crate::{LogRecord, SqliteStore, Store, StoreError};

pub(crate) fn function(name: &str, rev: &str) -> Function {
    Function {
        name: name.to_string(),
        settings: Settings {
            runtime: Some("python3.12".into()),
            handler: Some("app.handler".into()),
            role: "arn:aws:iam::000000000000:role/r".into(),
            description: String::new(),
            timeout: 3,
            memory_size: 128,
            ephemeral_storage: 512,
            architecture: "x86_64".into(),
            environment: None,
            tracing_mode: "PassThrough".into(),
            dead_letter_target: None,
            kms_key_arn: None,
            logging: Default::default(),
        },
        code: CodeRef {
            sha256_hex: format!("{name}-sha"),
            sha256_base64: "AA==".into(),
            size: 10,
        },
        last_modified_ms: 1,
        revision_id: rev.to_string(),
        state: State::Pending,
        last_update: None,
        tags: BTreeMap::new(),
        reserved_concurrency: None,
        version: None,
        recursive_loop: None,
        provisioned: Default::default(),
    }
}

async fn contract(store: &dyn Store) {
    store
        .create_function(&function("b", "r1"))
        .await
        .expect("create b");
    store
        .create_function(&function("a", "r1"))
        .await
        .expect("create a");
    assert!(matches!(
        store.create_function(&function("a", "r2")).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let names: Vec<String> = store
        .list_functions(None, 10)
        .await
        .expect("list")
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    let page = store.list_functions(Some("a"), 10).await.expect("page");
    assert_eq!(page.len(), 1);

    let mut a = store.get_function("a").await.expect("get").expect("exists");
    a.state = State::Active;
    a.last_update = Some(LastUpdateStatus::Successful);
    a.revision_id = "r2".into();
    store.update_function(&a, "r1").await.expect("cas ok");
    assert!(matches!(
        store.update_function(&a, "r1").await,
        Err(StoreError::RevisionMismatch(_))
    ));
    assert_eq!(store.get_function("a").await.expect("get"), Some(a.clone()));

    let usage = store.usage().await.expect("usage");
    assert_eq!((usage.function_count, usage.total_code_size), (2, 20));
    let mut shas = store.code_in_use().await.expect("code");
    shas.sort();
    assert_eq!(shas, ["a-sha", "b-sha"]);

    // Versions: numbered by the store, if $LATEST is still the revision they were made from.
    let mut v1 = a.published(Some("first"), 5, "v1".into());
    v1.code.sha256_hex = "v1-sha".into();
    assert!(matches!(
        store.publish_version(&v1, "stale").await,
        Err(StoreError::RevisionMismatch(_))
    ));
    assert!(
        store.newest_version("a").await.expect("get").is_none(),
        "nothing of a refused publish is stored"
    );
    assert_eq!(store.publish_version(&v1, "r2").await.expect("publish"), 1);
    let v2 = a.published(None, 6, "v2".into());
    assert_eq!(
        store.publish_version(&v2, "r2").await.expect("publish 2"),
        2
    );
    v1.version = Some(1);
    assert_eq!(
        store.get_function("a").await.expect("get"),
        Some(a.clone()),
        "$LATEST is as it was"
    );
    assert_eq!(
        store.get_version("a", 1).await.expect("get"),
        Some(v1.clone())
    );
    let numbers = |vs: Vec<Function>| vs.iter().filter_map(|v| v.version).collect::<Vec<_>>();
    assert_eq!(
        numbers(store.list_versions("a", 0, 10).await.expect("list")),
        [1, 2]
    );
    assert_eq!(
        numbers(store.list_versions("a", 1, 10).await.expect("list")),
        [2]
    );
    assert_eq!(
        numbers(store.list_versions("a", 0, 1).await.expect("list")),
        [1]
    );
    let mut shas = store.code_in_use().await.expect("code");
    shas.sort();
    assert_eq!(
        shas,
        ["a-sha", "b-sha", "v1-sha"],
        "versions' code is in use"
    );
    assert_eq!(
        store.usage().await.expect("usage").total_code_size,
        20 + 20,
        "the two versions' code counts too"
    );
    assert!(store.integrity_check().await.expect("check").is_empty());
    assert!(store.delete_version("a", 2).await.expect("delete v2"));
    assert!(!store.delete_version("a", 2).await.expect("again"));
    assert_eq!(
        numbers(store.list_versions("a", 0, 10).await.expect("list")),
        [1]
    );
    let v3 = a.published(None, 7, "v3".into());
    assert_eq!(
        store.publish_version(&v3, "r2").await.expect("publish 3"),
        3,
        "a deleted version's number is not given again"
    );
    assert_eq!(
        store
            .newest_version("a")
            .await
            .expect("newest")
            .and_then(|v| v.version),
        Some(3)
    );

    // Aliases.
    let live = nimbus_model::Alias {
        function: "a".into(),
        name: "live".into(),
        function_version: "1".into(),
        description: String::new(),
        additional_versions: std::collections::BTreeMap::from([("3".to_string(), 0.25)]),
        revision_id: "al1".into(),
    };
    store.create_alias(&live).await.expect("create alias");
    assert!(matches!(
        store.create_alias(&live).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let orphan = nimbus_model::Alias {
        function: "nope".into(),
        ..live.clone()
    };
    assert!(matches!(
        store.create_alias(&orphan).await,
        Err(StoreError::NotFound(_))
    ));
    let beta = nimbus_model::Alias {
        name: "beta".into(),
        ..live.clone()
    };
    store.create_alias(&beta).await.expect("create beta");
    let names = |v: Vec<nimbus_model::Alias>| v.into_iter().map(|a| a.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_aliases("a", None, 10).await.expect("list")),
        ["beta", "live"]
    );
    assert_eq!(
        names(
            store
                .list_aliases("a", Some("beta"), 10)
                .await
                .expect("list")
        ),
        ["live"]
    );
    let mut moved = live.clone();
    moved.function_version = "3".into();
    moved.additional_versions.clear();
    moved.revision_id = "al2".into();
    assert!(matches!(
        store.update_alias(&moved, "stale").await,
        Err(StoreError::RevisionMismatch(_))
    ));
    store
        .update_alias(&moved, "al1")
        .await
        .expect("update alias");
    assert_eq!(
        store.get_alias("a", "live").await.expect("get"),
        Some(moved)
    );
    assert!(store.delete_alias("a", "beta").await.expect("delete"));
    assert!(!store.delete_alias("a", "beta").await.expect("again"));

    store.delete_function("a").await.expect("delete");
    assert!(
        store.get_version("a", 1).await.expect("get").is_none(),
        "versions go with their function"
    );
    assert!(
        store.get_alias("a", "live").await.expect("get").is_none(),
        "aliases go with their function"
    );
    assert!(matches!(
        store.delete_function("a").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.get_function("a").await.expect("get").is_none());
    assert!(matches!(
        store.update_function(&a, "r2").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.integrity_check().await.expect("check").is_empty());

    let log = |stream: &str, ts: i64, msg: &str| LogRecord {
        id: 0,
        group: "/aws/lambda/b".into(),
        stream: stream.into(),
        timestamp_ms: ts,
        message: msg.into(),
    };
    store
        .append_logs(&[
            log("s1", 100, "one"),
            log("s1", 200, "two"),
            log("s2", 300, "three"),
        ])
        .await
        .expect("append");
    let all = store
        .read_logs("/aws/lambda/b", 0, 0, 10)
        .await
        .expect("read");
    let msgs: Vec<&str> = all.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(msgs, ["one", "two", "three"]);
    let after = store
        .read_logs("/aws/lambda/b", 0, all[0].id, 10)
        .await
        .expect("read");
    assert_eq!(after.len(), 2);
    assert_eq!(
        store
            .read_logs("/aws/lambda/b", 250, 0, 10)
            .await
            .expect("read")
            .len(),
        1
    );
    assert!(store
        .read_logs("/aws/lambda/other", 0, 0, 10)
        .await
        .expect("read")
        .is_empty());
    assert_eq!(store.expire_logs(250).await.expect("expire"), 2);
    assert_eq!(
        store
            .read_logs("/aws/lambda/b", 0, 0, 10)
            .await
            .expect("read")
            .len(),
        1
    );
}

#[tokio::test]
async fn sqlite_meets_the_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("nimbus.db"))
        .await
        .expect("open");
    contract(&store).await;
    drop(store);
    // Reopening sees the same state.
    let store = SqliteStore::open(&dir.path().join("nimbus.db"))
        .await
        .expect("reopen");
    assert_eq!(store.list_functions(None, 10).await.expect("list").len(), 1);
}
