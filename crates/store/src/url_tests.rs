//! The contract every [`UrlStore`] backend must meet, written against the traits: SQLite runs
//! it here; a PostgreSQL backend runs the same function.

use nimbus_model::url::{AuthType, Cors, FunctionUrlConfig, InvokeMode};

use crate::tests::function;
use crate::{SqliteStore, Store, StoreError, UrlStore};

fn url(function: &str, qualifier: &str, id: &str) -> FunctionUrlConfig {
    FunctionUrlConfig {
        function: function.into(),
        qualifier: qualifier.into(),
        url_id: id.into(),
        region: "us-east-1".into(),
        auth_type: AuthType::AwsIam,
        cors: None,
        invoke_mode: InvokeMode::Buffered,
        creation_time: "2026-01-01T00:00:00.000000Z".into(),
        last_modified_time: "2026-01-01T00:00:00.000000Z".into(),
    }
}

async fn contract<S: Store + UrlStore>(store: &S) {
    store
        .create_function(&function("f", "r1"))
        .await
        .expect("f");
    store
        .create_function(&function("g", "r1"))
        .await
        .expect("g");
    let plain = url("f", "", &"a".repeat(32));
    store.create_url(&plain).await.expect("create");
    assert!(matches!(
        store.create_url(&url("f", "", &"b".repeat(32))).await,
        Err(StoreError::AlreadyExists(_))
    ));
    // Ids are unique across functions.
    assert!(matches!(
        store.create_url(&url("g", "", &"a".repeat(32))).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        store.create_url(&url("nope", "", &"c".repeat(32))).await,
        Err(StoreError::NotFound(_))
    ));
    for (q, c) in [("live", 'd'), ("beta", 'e'), ("zeta", 'f')] {
        store
            .create_url(&url("f", q, &c.to_string().repeat(32)))
            .await
            .expect("alias url");
    }
    assert_eq!(
        store.get_url("f", "").await.expect("get"),
        Some(plain.clone())
    );
    assert_eq!(store.get_url("f", "other").await.expect("get"), None);
    let by_id = store.get_url_by_id(&"d".repeat(32)).await.expect("by id");
    assert_eq!(by_id.map(|u| u.qualifier), Some("live".to_string()));

    // Pages in qualifier order, the unqualified URL first.
    let page = store.list_urls("f", None, 2).await.expect("list");
    let qs: Vec<&str> = page.iter().map(|u| u.qualifier.as_str()).collect();
    assert_eq!(qs, ["", "beta"]);
    let page = store.list_urls("f", Some("beta"), 10).await.expect("list");
    let qs: Vec<&str> = page.iter().map(|u| u.qualifier.as_str()).collect();
    assert_eq!(qs, ["live", "zeta"]);

    // An update keeps the id and creation time whatever it is given.
    let changed = FunctionUrlConfig {
        url_id: "z".repeat(32),
        creation_time: "changed".into(),
        auth_type: AuthType::None,
        cors: Some(Cors {
            max_age: Some(5),
            ..Cors::default()
        }),
        last_modified_time: "2026-02-01T00:00:00.000000Z".into(),
        ..plain.clone()
    };
    store.update_url(&changed).await.expect("update");
    let got = store.get_url("f", "").await.expect("get").expect("there");
    assert_eq!(got.url_id, plain.url_id);
    assert_eq!(got.creation_time, plain.creation_time);
    assert_eq!(got.auth_type, AuthType::None);
    assert_eq!(got.cors.and_then(|c| c.max_age), Some(5));
    assert!(matches!(
        store.update_url(&url("f", "gone", &"y".repeat(32))).await,
        Err(StoreError::NotFound(_))
    ));

    assert!(store.delete_url("f", "zeta").await.expect("delete"));
    assert!(!store.delete_url("f", "zeta").await.expect("again"));
    assert_eq!(
        store.get_url_by_id(&"f".repeat(32)).await.expect("by id"),
        None
    );

    // The function's deletion takes its URLs along; their ids are free again.
    store.delete_function("f").await.expect("delete f");
    assert_eq!(
        store.get_url_by_id(&"a".repeat(32)).await.expect("by id"),
        None
    );
    assert!(store
        .list_urls("f", None, 10)
        .await
        .expect("list")
        .is_empty());
    store
        .create_url(&url("g", "", &"a".repeat(32)))
        .await
        .expect("the id is free");
}

#[tokio::test]
async fn sqlite_meets_the_url_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("nimbus.db"))
        .await
        .expect("open");
    contract(&store).await;
}

#[tokio::test]
async fn an_alias_deletion_takes_its_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("nimbus.db"))
        .await
        .expect("open");
    store
        .create_function(&function("f", "r1"))
        .await
        .expect("f");
    let alias = nimbus_model::Alias {
        function: "f".into(),
        name: "live".into(),
        function_version: "$LATEST".into(),
        description: String::new(),
        additional_versions: Default::default(),
        revision_id: "a1".into(),
    };
    store.create_alias(&alias).await.expect("alias");
    store
        .create_url(&url("f", "live", &"q".repeat(32)))
        .await
        .expect("url");
    assert!(store.delete_alias("f", "live").await.expect("delete alias"));
    assert_eq!(store.get_url("f", "live").await.expect("get"), None);
}
