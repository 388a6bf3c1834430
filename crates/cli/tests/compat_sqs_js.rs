//! The JavaScript SDK v3 SQS client (`@aws-sdk/client-sqs`, pinned in
//! tests/compat/sqs-js/package.json and installed by scripts/test.sh), unmodified, against a
//! real server: its own middleware verifies the MD5s of what it sends and receives.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::{creds, NimbusProcess};

/// Where scripts/test.sh installed the SDK. Its absence is a failure, not a skip.
fn sdk_dir() -> PathBuf {
    let p = std::env::var("NIMBUS_TEST_SQS_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.sqs-js-test"));
    assert!(
        p.join("node_modules/@aws-sdk/client-sqs/package.json")
            .is_file(),
        "no @aws-sdk/client-sqs under {}: run ./scripts/test.sh, which installs it",
        p.display()
    );
    p
}

#[test]
fn javascript_sdk_v3_sqs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    let c = creds();
    let script = format!("{}/tests/compat/sqs_js.js", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("/usr/bin/node")
        .arg(script)
        .env("NIMBUS_TEST_SQS_JS", sdk_dir())
        .env("NIMBUS_TEST_ENDPOINT", server.endpoint())
        .env("NIMBUS_TEST_KEY_ID", &c.access_key_id)
        .env("NIMBUS_TEST_SECRET", &c.secret_access_key)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "node script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("js sqs: ok"));
}
