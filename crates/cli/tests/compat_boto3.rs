//! boto3, unmodified, drives the control plane (the script asserts; this runs it).

mod support;

use std::process::Command;

use support::{creds, python_with_boto3, NimbusProcess};

/// Runs `script` (in tests/compat) with boto3 against a fresh server; it must print `done`.
fn run_script(script: &str, done: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    run_against(&server, script, done);
}

/// Runs `script` against `server`; it must print `done`.
fn run_against(server: &NimbusProcess, script: &str, done: &str) {
    let c = creds();
    let script = format!("{}/tests/compat/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python_with_boto3())
        .arg(script)
        .env("NIMBUS_TEST_ENDPOINT", server.endpoint())
        .env("NIMBUS_TEST_KEY_ID", &c.access_key_id)
        .env("NIMBUS_TEST_SECRET", &c.secret_access_key)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "boto3 script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(done));
}

#[test]
fn boto3_function_lifecycle() {
    run_script("boto3_control_plane.py", "boto3 control plane: ok");
}

#[test]
fn boto3_versions_aliases_concurrency_and_policies() {
    run_script("boto3_versions.py", "boto3 versions: ok");
}

#[test]
fn boto3_sqs_queues_messages_fifo_and_redrive() {
    run_script("boto3_sqs.py", "boto3 sqs: ok");
}

#[test]
fn boto3_async_invocation_destinations_and_dead_letters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("nimbus.toml");
    std::fs::write(&config, "[async]\nretry_delay_seconds = 1\n").expect("config");
    let data = dir.path().join("data");
    let server = NimbusProcess::start_with_config(&data, &config);
    run_against(&server, "boto3_async.py", "boto3 async: ok");
}

#[test]
fn boto3_invoke_with_response_stream() {
    run_script("boto3_streaming.py", "boto3 streaming: ok");
}

#[test]
fn boto3_scheduler_schedules_groups_and_dead_letters() {
    run_script("boto3_scheduler.py", "boto3 scheduler: ok");
}

#[test]
fn boto3_sqs_event_source_mapping_with_batch_item_failures() {
    run_script("boto3_esm.py", "boto3 esm: ok");
}
