//! The schema grows by migrations: a database written before them (and one written by each
//! step since) opens with what it holds intact.

use std::str::FromStr;

use nimbus_store::{SqliteStore, Store};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;

/// A database as the release before migrations left it.
async fn old_database(path: &std::path::Path) {
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .expect("url")
        .create_if_missing(true)
        .connect()
        .await
        .expect("open");
    sqlx::raw_sql(include_str!("fixtures/before-migrations.sql"))
        .execute(&mut conn)
        .await
        .expect("load the old database");
}

#[tokio::test]
async fn a_database_from_before_migrations_opens_with_its_functions_and_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nimbus.db");
    old_database(&path).await;
    let store = SqliteStore::open(&path).await.expect("open and migrate");
    let names: Vec<String> = store
        .list_functions(None, 50)
        .await
        .expect("list")
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["old-one", "old-two"]);
    let f = store
        .get_function("old-one")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(f.settings.description, "made before migrations");
    assert_eq!(f.tags.get("team").map(String::as_str), Some("blue"));
    assert_eq!(
        f.reserved_concurrency, None,
        "a field the old release never wrote"
    );
    let logs = store
        .read_logs("/aws/lambda/old-one", 0, 0, 100)
        .await
        .expect("logs");
    assert_eq!(logs.len(), 4);
    assert!(logs[3].message.starts_with("REPORT RequestId: "));
    let usage = store.usage().await.expect("usage");
    assert_eq!((usage.function_count, usage.reserved_concurrency), (2, 0));
    assert_eq!(
        store.integrity_check().await.expect("check"),
        Vec::<String>::new()
    );
    // New writes use what the migrations added, and the next open migrates nothing twice.
    let mut g = f.clone();
    g.reserved_concurrency = Some(7);
    g.revision_id = "next".into();
    store
        .update_function(&g, &f.revision_id)
        .await
        .expect("update");
    drop(store);
    let store = SqliteStore::open(&path).await.expect("reopen");
    assert_eq!(store.usage().await.expect("usage").reserved_concurrency, 7);
    assert_eq!(
        store.integrity_check().await.expect("check"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_database_a_newer_release_migrated_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nimbus.db");
    drop(SqliteStore::open(&path).await.expect("create"));
    // A release after this one applied a migration this one does not know.
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .expect("url")
        .connect()
        .await
        .expect("open");
    sqlx::raw_sql(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .expect("insert");
    drop(conn);
    let err = SqliteStore::open(&path).await.expect_err("refused");
    assert!(
        format!("{:?}", err).contains("9999"),
        "names the unknown migration: {err:?}"
    );
}

#[test]
fn every_migration_file_is_compiled_in() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("migrations")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let source = include_str!("../src/sqlite.rs");
    for f in &files {
        assert!(
            source.contains(&format!("../migrations/{f}")),
            "{f} is not in MIGRATIONS"
        );
    }
    assert!(!files.is_empty());
}
