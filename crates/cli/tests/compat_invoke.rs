//! Functions on every kind of runtime, invoked through the unmodified AWS CLI and boto3: our
//! Python and Node bootstraps, AWS's Python runtime interface client (awslambdaric, from PyPI)
//! as a `provided.al2023` bootstrap, and a Rust function built with the `lambda_runtime` crate.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use serde_json::{json, Value};
use support::{aws, creds, python_with_boto3, NimbusProcess, ROLE};
use zip::write::SimpleFileOptions;

fn zip_with_modes(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, mode) in entries {
        w.start_file(*name, SimpleFileOptions::default().unix_permissions(*mode))
            .expect("start");
        w.write_all(data).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

fn create(server: &NimbusProcess, name: &str, runtime: &str, handler: &str, zip: &[u8]) {
    let body = json!({
        "FunctionName": name, "Runtime": runtime, "Role": ROLE, "Handler": handler, "Timeout": 10,
        "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) },
    });
    let (status, resp) = server
        .call("POST", "/2015-03-31/functions", Some(&body))
        .expect("create");
    assert_eq!(status, 201, "{resp}");
}

/// Builds the Rust fixture function and returns its binary.
fn rust_hello() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "nimbus-fixture-rust-hello"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .status()
        .expect("cargo build");
    assert!(
        status.success(),
        "building the lambda_runtime fixture failed"
    );
    let exe = std::env::current_exe().expect("test binary");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("rust-hello");
    assert!(bin.is_file(), "{} missing", bin.display());
    bin
}

/// The files of awslambdaric installed with `pip --target` (test.sh prepares them).
fn ric_package() -> Vec<(String, Vec<u8>, u32)> {
    let dir = std::env::var("NIMBUS_TEST_RIC_PACKAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-test/ric-package")
        });
    assert!(
        dir.join("awslambdaric").is_dir(),
        "no awslambdaric package at {}: run ./scripts/test.sh",
        dir.display()
    );
    let mut out = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_none_or(|x| x != "pyc") {
                let rel = p
                    .strip_prefix(&dir)
                    .expect("under")
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read(&p).expect("read"), 0o644));
            }
        }
    }
    out
}

const PY: &str = "import os\ndef handler(event, context):\n    print('python got', event)\n    return {'runtime': 'python', 'event': event, 'fn': os.environ['AWS_LAMBDA_FUNCTION_NAME']}\n";
const NODE: &str = "exports.handler = async (event) => { console.log('node got', JSON.stringify(event)); return { runtime: 'node', event }; };\n";
const RIC_APP: &str = "def handler(event, context):\n    print('ric got', event)\n    return {'runtime': 'awslambdaric', 'event': event, 'request_id': context.aws_request_id}\n";

fn deploy_all(server: &NimbusProcess, home: &Path) {
    create(
        server,
        "py",
        "python3.12",
        "app.handler",
        &zip_with_modes(&[("app.py", PY.as_bytes(), 0o644)]),
    );
    create(
        server,
        "node",
        "nodejs20.x",
        "index.handler",
        &zip_with_modes(&[("index.js", NODE.as_bytes(), 0o644)]),
    );
    // AWS's own Python runtime interface client, unmodified, bundled in the package the way
    // users deploy it, as a custom runtime's bootstrap.
    let bootstrap = "#!/bin/sh\nexport PYTHONPATH=\"$LAMBDA_TASK_ROOT\"\nexec /usr/bin/python3 -m awslambdaric \"$_HANDLER\"\n";
    let mut entries = ric_package();
    entries.push(("bootstrap".into(), bootstrap.as_bytes().to_vec(), 0o755));
    entries.push(("app.py".into(), RIC_APP.as_bytes().to_vec(), 0o644));
    let borrowed: Vec<(&str, &[u8], u32)> = entries
        .iter()
        .map(|(n, d, m)| (n.as_str(), d.as_slice(), *m))
        .collect();
    create(
        server,
        "ric",
        "provided.al2023",
        "app.handler",
        &zip_with_modes(&borrowed),
    );
    let rust = std::fs::read(rust_hello()).expect("read rust binary");
    create(
        server,
        "rust",
        "provided.al2023",
        "unused",
        &zip_with_modes(&[("bootstrap", &rust, 0o755)]),
    );
    for name in ["py", "node", "ric", "rust"] {
        let out = aws(
            server,
            home,
            &[
                "lambda",
                "wait",
                "function-active-v2",
                "--function-name",
                name,
            ],
        );
        let state = server.call(
            "GET",
            &format!("/2015-03-31/functions/{name}/configuration"),
            None,
        );
        assert!(
            out.status.success(),
            "waiting for {name}: {}{} / {state:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn check(name: &str, payload: &Value, expected_from: &str) {
    match name {
        "py" => {
            assert_eq!(payload["runtime"], "python");
            assert_eq!(payload["fn"], "py");
            assert_eq!(payload["event"]["from"], expected_from);
        }
        "node" => assert_eq!(
            payload,
            &json!({ "runtime": "node", "event": { "from": expected_from } })
        ),
        "ric" => {
            assert_eq!(payload["runtime"], "awslambdaric");
            assert_eq!(payload["event"]["from"], expected_from);
        }
        "rust" => {
            assert_eq!(payload["message"], "hello from rust");
            assert_eq!(payload["echo"]["from"], expected_from);
            assert_eq!(payload["function"], "rust");
            assert_eq!(
                payload["invoked_arn"],
                "arn:aws:lambda:us-east-1:000000000000:function:rust"
            );
        }
        _ => unreachable!(),
    }
}

#[test]
fn every_runtime_through_the_aws_cli_and_boto3() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    deploy_all(&server, dir.path());

    for name in ["py", "node", "ric", "rust"] {
        let out_file = dir.path().join(format!("{name}.json"));
        let out = aws(
            &server,
            dir.path(),
            &[
                "lambda",
                "invoke",
                "--function-name",
                name,
                "--cli-binary-format",
                "raw-in-base64-out",
                "--payload",
                r#"{"from": "cli"}"#,
                "--log-type",
                "Tail",
                out_file.to_str().expect("path"),
            ],
        );
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: Value = serde_json::from_slice(&out.stdout).expect("cli json");
        assert_eq!(meta["StatusCode"], 200, "{name}: {meta}");
        assert_eq!(meta["ExecutedVersion"], "$LATEST");
        assert!(
            meta.get("FunctionError").is_none(),
            "{name}: {meta} {}",
            std::fs::read_to_string(&out_file).unwrap_or_default()
        );
        let log = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(meta["LogResult"].as_str().expect("log"))
                .expect("b64"),
        )
        .expect("utf8");
        assert!(
            log.starts_with("START RequestId: ")
                && log.contains("\nEND RequestId: ")
                && log.contains("\nREPORT RequestId: "),
            "{name}: {log}"
        );
        let payload: Value =
            serde_json::from_slice(&std::fs::read(&out_file).expect("out")).expect("payload json");
        check(name, &payload, "cli");
    }

    let c = creds();
    let out = Command::new(python_with_boto3())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/compat/boto3_invoke.py"
        ))
        .args(["py", "node", "ric", "rust"])
        .env("NIMBUS_TEST_ENDPOINT", server.endpoint())
        .env("NIMBUS_TEST_KEY_ID", &c.access_key_id)
        .env("NIMBUS_TEST_SECRET", &c.secret_access_key)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    assert_eq!(lines.len(), 4);
    for r in &lines {
        let name = r["name"].as_str().expect("name");
        assert_eq!(
            (r["status"].as_u64(), r["function_error"].is_null()),
            (Some(200), true),
            "{r}"
        );
        assert_eq!(r["executed_version"], "$LATEST");
        check(name, &r["payload"], "boto3");
        assert!(r["log"]
            .as_str()
            .expect("log")
            .contains("REPORT RequestId: "));
    }

    // Function errors from the foreign runtime clients arrive as Lambda reports them.
    let out_file = dir.path().join("err.json");
    let out = aws(
        &server,
        dir.path(),
        &[
            "lambda",
            "invoke",
            "--function-name",
            "rust",
            "--cli-binary-format",
            "raw-in-base64-out",
            "--payload",
            r#"{"fail": 1}"#,
            out_file.to_str().expect("path"),
        ],
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cli json");
    assert_eq!(meta["FunctionError"], "Unhandled");
    let err: Value = serde_json::from_slice(&std::fs::read(&out_file).expect("out")).expect("json");
    assert_eq!(err["errorMessage"], "asked to fail");
}

#[test]
fn nimbus_invoke_logs_and_runtimes_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    create(
        &server,
        "py",
        "python3.12",
        "app.handler",
        &zip_with_modes(&[("app.py", PY.as_bytes(), 0o644)]),
    );
    let c = creds();
    let run = |args: &[&str]| {
        support::nimbus()
            .args(args)
            .env("NIMBUS_ENDPOINT", server.endpoint())
            .env("NIMBUS_ACCESS_KEY_ID", &c.access_key_id)
            .env("NIMBUS_SECRET_ACCESS_KEY", &c.secret_access_key)
            .output()
            .expect("nimbus")
    };
    for _ in 0..50 {
        let (_, f) = server
            .call("GET", "/2015-03-31/functions/py/configuration", None)
            .expect("get");
        if f["State"] == "Active" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = run(&[
        "invoke",
        "py",
        "--payload",
        r#"{"from": "nimbus"}"#,
        "--tail",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let payload: Value = serde_json::from_slice(&out.stdout).expect("json");
    check("py", &payload, "nimbus");
    let tail = String::from_utf8_lossy(&out.stderr);
    assert!(
        tail.contains("python got {'from': 'nimbus'}") && tail.contains("REPORT RequestId: "),
        "{tail}"
    );

    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = run(&["logs", "py", "--since", "5m"]);
    assert!(out.status.success());
    let logs = String::from_utf8_lossy(&out.stdout);
    assert!(
        logs.lines()
            .next()
            .is_some_and(|l| l.starts_with("INIT_START ")),
        "{logs}"
    );
    assert!(logs.contains("python got {'from': 'nimbus'}"));

    let out = run(&["runtimes"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("launcher: sandbox") && text.contains("/usr/bin/python3"),
        "{text}"
    );

    let bad = run(&["invoke", "py", "--payload", "{nope"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("InvalidRequestContentException"));
}
