//! Invoke through the real server and engine (process launcher), with our Python and Node
//! bootstraps. Expected bodies and messages are AWS's (spec/lambda-compat.md §3, §5, §7).

mod support;

use std::time::Instant;

use base64::Engine;
use serde_json::{json, Value};
use support::{zip_of, TestServer, ROLE};

const PY: &str = r#"
import os, time, json
count = 0
print("init output")
def handler(event, context):
    global count
    count += 1
    print("event", json.dumps(event))
    if event.get("fail"):
        raise RuntimeError("Handler fails")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit"):
        os._exit(2)
    if event.get("big"):
        return "x" * 7_000_000
    return {
        "count": count,
        "pid": os.getpid(),
        "remaining": context.get_remaining_time_in_millis(),
        "request_id": context.aws_request_id,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "client": context.client_context.custom if context.client_context else None,
        "env": {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "LAMBDA_", "_HANDLER", "TZ", "LANG", "STAGE"))},
        "started": time.time(),
    }
"#;

fn py_app() -> String {
    PY.to_string()
}

fn create(
    s: &TestServer,
    name: &str,
    runtime: &str,
    handler: &str,
    files: &[(&str, &[u8])],
    extra: Value,
) {
    let mut body = json!({
        "FunctionName": name,
        "Runtime": runtime,
        "Role": ROLE,
        "Handler": handler,
        "Timeout": 2,
        "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip_of(files)) },
    });
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let r = s.call_json("POST", "/2015-03-31/functions", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    s.wait_active(name);
}

struct Invoked {
    status: u16,
    body: Value,
    function_error: Option<String>,
    log: Option<String>,
    version: Option<String>,
    request_id: Option<String>,
}

fn invoke(s: &TestServer, name: &str, payload: &Value, headers: &[(&str, &str)]) -> Invoked {
    let bytes = serde_json::to_vec(payload).expect("json");
    invoke_raw(s, name, &bytes, headers)
}

fn invoke_raw(s: &TestServer, name: &str, bytes: &[u8], headers: &[(&str, &str)]) -> Invoked {
    let url = s.url(&format!("/2015-03-31/functions/{name}/invocations"));
    let host = s.addr.to_string();
    let mut signed_headers: Vec<(&str, &str)> = vec![("host", &host)];
    signed_headers.extend_from_slice(headers);
    let signed = nimbus_server::auth::sign_request(
        &support::creds(),
        "us-east-1",
        "POST",
        &url,
        &signed_headers,
        bytes,
        std::time::SystemTime::now(),
    )
    .expect("sign");
    let mut req = reqwest::blocking::Client::new()
        .post(&url)
        .body(bytes.to_vec());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    for (k, v) in signed {
        req = req.header(k, v);
    }
    let resp = req.send().expect("send");
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let function_error = h("x-amz-function-error");
    let log = h("x-amz-log-result").map(|l| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(l)
                .expect("b64"),
        )
        .expect("utf8")
    });
    let version = h("x-amz-executed-version");
    let request_id = h("x-amzn-requestid");
    let status = resp.status().as_u16();
    let raw = resp.bytes().expect("body");
    Invoked {
        status,
        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
        function_error,
        log,
        version,
        request_id,
    }
}

#[test]
fn python_result_headers_tail_and_warm_reuse() {
    let s = TestServer::start();
    let app = py_app();
    create(
        &s,
        "py",
        "python3.12",
        "app.handler",
        &[("app.py", app.as_bytes())],
        json!({ "Environment": { "Variables": { "STAGE": "test" } }, "MemorySize": 256 }),
    );
    let first = invoke(&s, "py", &json!({ "n": 1 }), &[("x-amz-log-type", "Tail")]);
    assert_eq!(first.status, 200);
    assert_eq!(first.function_error, None);
    assert_eq!(first.version.as_deref(), Some("$LATEST"));
    assert_eq!(first.body["count"], 1);
    let rid = first.request_id.clone().expect("request id");
    assert_eq!(
        first.body["request_id"],
        rid.as_str(),
        "the invocation id is the API request id"
    );
    assert_eq!(
        first.body["arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:py"
    );
    assert_eq!(first.body["memory"], "256");
    let remaining = first.body["remaining"].as_i64().expect("remaining");
    assert!(remaining > 0 && remaining <= 2000, "{remaining}");
    let log = first.log.expect("Tail log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], format!("START RequestId: {rid} Version: $LATEST"));
    assert_eq!(lines[1], r#"event {"n": 1}"#);
    assert_eq!(lines[2], format!("END RequestId: {rid}"));
    let report = lines[3];
    assert!(
        report.starts_with(&format!("REPORT RequestId: {rid}\tDuration: ")),
        "{report}"
    );
    let fields: Vec<&str> = report.split('\t').collect();
    assert!(
        fields[1].ends_with(" ms")
            && fields[1]["Duration: ".len()..]
                .trim_end_matches(" ms")
                .split('.')
                .nth(1)
                .map(str::len)
                == Some(2),
        "{report}"
    );
    assert!(fields[2].starts_with("Billed Duration: ") && fields[2].ends_with(" ms"));
    assert_eq!(fields[3], "Memory Size: 256 MB");
    assert!(fields[4].starts_with("Max Memory Used: ") && fields[4].ends_with(" MB"));
    assert!(
        fields[5].starts_with("Init Duration: "),
        "cold start: {report}"
    );
    assert!(report.ends_with('\t'));

    // Environment variables of the execution environment.
    let env = &first.body["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "py");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/py");
    let stream = env["AWS_LAMBDA_LOG_STREAM_NAME"].as_str().expect("stream");
    assert!(
        stream.contains("/[$LATEST]") && stream.len() == "2026/12/01/[$LATEST]".len() + 32,
        "{stream}"
    );
    assert!(env["AWS_LAMBDA_RUNTIME_API"]
        .as_str()
        .expect("api")
        .starts_with("127.0.0.1:"));
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1");
    assert_eq!(env["AWS_EXECUTION_ENV"], "AWS_Lambda_python3.12");
    assert_eq!(env["AWS_LAMBDA_INITIALIZATION_TYPE"], "on-demand");
    assert_eq!(env["_HANDLER"], "app.handler");
    assert_eq!(env["TZ"], ":UTC");
    assert_eq!(env["STAGE"], "test");
    assert!(env["LAMBDA_TASK_ROOT"]
        .as_str()
        .expect("root")
        .contains("/code/pkgs/"));
    assert!(env["LAMBDA_RUNTIME_DIR"]
        .as_str()
        .expect("rt")
        .ends_with("/runtimes/python"));
    // The role's temporary credentials, never the server's root keys.
    let key = env["AWS_ACCESS_KEY_ID"].as_str().expect("a key id");
    assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
    assert!(env["AWS_SESSION_TOKEN"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    let root = support::creds();
    for v in env
        .as_object()
        .expect("env")
        .values()
        .filter_map(Value::as_str)
    {
        assert!(
            !v.contains(&root.access_key_id) && !v.contains(&root.secret_access_key),
            "the server's root keys never reach functions"
        );
    }
    assert!(env["AWS_ENDPOINT_URL"]
        .as_str()
        .is_some_and(|u| u.starts_with("http://127.0.0.1:")));

    // Warm: same environment, the global counter grows, no Init Duration.
    let second = invoke(&s, "py", &json!({}), &[("x-amz-log-type", "Tail")]);
    assert_eq!(second.body["count"], 2);
    assert_eq!(second.body["pid"], first.body["pid"]);
    assert!(!second.log.expect("log").contains("Init Duration"));

    // The logs were stored, INIT_START and init output first.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let logs = s.call("GET", "/_nimbus/logs/py", b"").body;
    let msgs: Vec<&str> = logs["Events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["Message"].as_str())
        .collect();
    assert!(msgs[0].starts_with("INIT_START Runtime Version: python3.12.nimbus\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:"), "{msgs:?}");
    assert!(
        msgs[0].contains("\tInterpreter: /usr/bin/python3"),
        "{}",
        msgs[0]
    );
    // AWS compat: each message keeps its newline, as CloudWatch shows Lambda's lines.
    assert_eq!(msgs[1], "init output\n");
    assert!(msgs.iter().all(|m| m.ends_with('\n')), "{msgs:?}");
    assert_eq!(msgs.iter().filter(|m| m.starts_with("REPORT ")).count(), 2);
}

#[test]
fn handler_exception() {
    let s = TestServer::start();
    let app = py_app();
    create(
        &s,
        "boom",
        "python3.12",
        "app.handler",
        &[("app.py", app.as_bytes())],
        json!({}),
    );
    let r = invoke(
        &s,
        "boom",
        &json!({ "fail": true }),
        &[("x-amz-log-type", "Tail")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(r.body["errorType"], "RuntimeError");
    assert_eq!(r.body["errorMessage"], "Handler fails");
    assert_eq!(
        r.body["requestId"],
        r.request_id.clone().expect("id").as_str()
    );
    let trace = r.body["stackTrace"][0].as_str().expect("trace");
    assert!(
        trace.contains("app.py\", line ") && trace.contains("in handler"),
        "{trace}"
    );
    let log = r.log.expect("log");
    assert!(
        log.contains("[ERROR] RuntimeError: Handler fails\rTraceback (most recent call last):\r"),
        "{log}"
    );
    // The environment survives a handled failure.
    let again = invoke(&s, "boom", &json!({}), &[]);
    assert_eq!(again.body["count"], 2);
}

#[track_caller]
fn init_error(file: (&str, &str), handler: &str, ty: &str, msg: &str) {
    let s = TestServer::start();
    create(
        &s,
        "bad",
        "python3.12",
        handler,
        &[(file.0, file.1.as_bytes())],
        json!({}),
    );
    let r = invoke(&s, "bad", &json!({}), &[]);
    assert_eq!(
        (r.status, r.function_error.as_deref()),
        (200, Some("Unhandled"))
    );
    assert_eq!(r.body["errorType"], ty, "{}", r.body);
    if msg.ends_with('*') {
        assert!(
            r.body["errorMessage"]
                .as_str()
                .expect("msg")
                .starts_with(msg.trim_end_matches('*')),
            "{}",
            r.body
        );
    } else {
        assert_eq!(r.body["errorMessage"], msg);
    }
    assert_eq!(r.body["requestId"], "");
    assert_eq!(r.body["stackTrace"], json!([]));
}

#[test]
fn import_error() {
    init_error(
        ("app.py", "import no_such_module\n"),
        "app.handler",
        "Runtime.ImportModuleError",
        "Unable to import module 'app': No module named 'no_such_module'",
    );
}

#[test]
fn handler_not_found() {
    init_error(
        ("app.py", "def other(e, c):\n    return 1\n"),
        "app.handler",
        "Runtime.HandlerNotFound",
        "Handler 'handler' missing on module 'app'",
    );
}

#[test]
fn syntax_error() {
    init_error(
        ("app.py", "def handler(e, c)\n    return 1\n"),
        "app.handler",
        "Runtime.UserCodeSyntaxError",
        "Syntax error in module 'app': *",
    );
}

#[test]
fn timeout_then_a_fresh_environment() {
    let s = TestServer::start();
    let app = py_app();
    create(
        &s,
        "slow",
        "python3.12",
        "app.handler",
        &[("app.py", app.as_bytes())],
        json!({ "Timeout": 1 }),
    );
    let warm = invoke(&s, "slow", &json!({}), &[]);
    assert_eq!(warm.body["count"], 1);
    let r = invoke(
        &s,
        "slow",
        &json!({ "sleep": 5 }),
        &[("x-amz-log-type", "Tail")],
    );
    let id = r.request_id.clone().expect("id");
    assert_eq!(r.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        r.body,
        json!({ "errorType": "Sandbox.Timedout", "errorMessage": format!("RequestId: {id} Error: Task timed out after 1.00 seconds") })
    );
    assert!(r.log.expect("log").contains("\tStatus: timeout\t"));
    let pid = warm.body["pid"].as_i64().expect("pid");
    // SIGKILL was sent at the deadline; dying takes the kernel a moment.
    let gone = || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    };
    for _ in 0..200 {
        if gone() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(gone(), "the timed-out runtime is gone");
    let next = invoke(&s, "slow", &json!({}), &[]);
    assert_eq!(next.body["count"], 1, "a fresh environment");
    assert_ne!(next.body["pid"], warm.body["pid"]);
}

#[test]
fn runtime_exit() {
    let s = TestServer::start();
    let app = py_app();
    create(
        &s,
        "quits",
        "python3.12",
        "app.handler",
        &[("app.py", app.as_bytes())],
        json!({}),
    );
    let r = invoke(&s, "quits", &json!({ "exit": true }), &[]);
    let id = r.request_id.clone().expect("id");
    assert_eq!(r.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        r.body,
        json!({ "errorType": "Runtime.ExitError", "errorMessage": format!("RequestId: {id} Error: Runtime exited with error: exit status 2") })
    );
    assert_eq!(
        invoke(&s, "quits", &json!({}), &[]).body["count"],
        1,
        "never reused"
    );
}

#[test]
fn response_too_large() {
    let s = TestServer::start();
    let app = py_app();
    create(
        &s,
        "big",
        "python3.12",
        "app.handler",
        &[("app.py", app.as_bytes())],
        json!({}),
    );
    let r = invoke(&s, "big", &json!({ "big": true }), &[]);
    assert_eq!(r.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        r.body,
        json!({ "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).", "errorType": "Function.ResponseSizeTooLarge" })
    );
}

#[test]
fn dry_run_and_bad_payloads() {
    let s = TestServer::start();
    let app = py_app();
    create(
        &s,
        "dry",
        "python3.12",
        "app.handler",
        &[("app.py", app.as_bytes())],
        json!({}),
    );
    let r = invoke(
        &s,
        "dry",
        &json!({}),
        &[("x-amz-invocation-type", "DryRun")],
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.body, Value::Null);
    let r = invoke_raw(&s, "dry", b"{not json", &[]);
    assert_eq!(r.status, 400);
    assert!(r.body["message"].as_str().expect("msg").starts_with(
        "Could not parse request body into json: Could not parse payload into json: "
    ));
    let r = invoke_raw(&s, "dry", &vec![b' '; 6_291_457], &[]);
    assert_eq!(r.status, 413);
    assert_eq!(
        r.body["message"],
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    );
    let r = invoke(&s, "nope", &json!({}), &[]);
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body["Message"],
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"
    );
    let r = invoke(
        &s,
        "dry",
        &json!({}),
        &[("x-amz-invocation-type", "Sometimes")],
    );
    assert_eq!(r.status, 400);
    // The first real invocation is still the first: DryRun ran nothing.
    assert_eq!(invoke(&s, "dry", &json!({}), &[]).body["count"], 1);
}

#[test]
fn client_context_reaches_the_handler() {
    let s = TestServer::start();
    let app = py_app();
    create(
        &s,
        "cc",
        "python3.12",
        "app.handler",
        &[("app.py", app.as_bytes())],
        json!({}),
    );
    let cc = base64::engine::general_purpose::STANDARD.encode(br#"{"custom":{"k":"v"}}"#);
    let r = invoke(&s, "cc", &json!({}), &[("x-amz-client-context", &cc)]);
    assert_eq!(r.body["client"], json!({ "k": "v" }));
}

#[test]
fn updated_code_runs_after_the_update() {
    let s = TestServer::start();
    create(
        &s,
        "upd",
        "python3.12",
        "app.handler",
        &[("app.py", b"def handler(e, c):\n    return 'v1'\n")],
        json!({}),
    );
    assert_eq!(invoke(&s, "upd", &json!({}), &[]).body, "v1");
    let zip = zip_of(&[("app.py", b"def handler(e, c):\n    return 'v2'\n")]);
    let r = s.call_json(
        "PUT",
        "/2015-03-31/functions/upd/code",
        &json!({ "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) }),
    );
    assert_eq!(r.status, 200);
    s.wait_active("upd");
    assert_eq!(invoke(&s, "upd", &json!({}), &[]).body, "v2");
    let r = s.call_json(
        "PUT",
        "/2015-03-31/functions/upd/configuration",
        &json!({ "Environment": { "Variables": { "XY": "1" } } }),
    );
    assert_eq!(r.status, 200);
    s.wait_active("upd");
    assert_eq!(invoke(&s, "upd", &json!({}), &[]).body, "v2");
}

#[test]
fn runtime_without_an_interpreter_here() {
    let s = TestServer::start();
    create(
        &s,
        "j",
        "java21",
        "example.Handler::handleRequest",
        &[("x.txt", b"x")],
        json!({}),
    );
    let r = invoke(&s, "j", &json!({}), &[]);
    assert_eq!(r.status, 502);
    assert!(
        r.body["Message"]
            .as_str()
            .expect("msg")
            .starts_with("runtime java21 is not available on this server"),
        "{}",
        r.body
    );
}

#[test]
fn twenty_concurrent_invocations_never_queue() {
    let s = TestServer::start();
    let app = py_app();
    create(
        &s,
        "par",
        "python3.12",
        "app.handler",
        &[("app.py", app.as_bytes())],
        json!({ "Timeout": 10 }),
    );
    let start = Instant::now();
    let results: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| invoke(&s, "par", &json!({ "sleep": 1 }), &[]).body))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let total = start.elapsed();
    eprintln!("20 concurrent 1 s invocations took {total:?}");
    let mut pids: Vec<i64> = results
        .iter()
        .map(|r| r["pid"].as_i64().expect("pid"))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(
        pids.len(),
        20,
        "each concurrent invocation got its own environment"
    );
    // All twenty handlers were sleeping at the same moment: none waited for another.
    let starts: Vec<f64> = results
        .iter()
        .map(|r| r["started"].as_f64().expect("t"))
        .collect();
    let latest_start = starts.iter().cloned().fold(f64::MIN, f64::max);
    let earliest_end = starts.iter().cloned().fold(f64::MAX, f64::min) + 1.0;
    assert!(
        latest_start < earliest_end,
        "invocations queued: starts spread over {:.2} s",
        latest_start - (earliest_end - 1.0)
    );
}

const NODE_CJS: &str = r#"
let count = 0;
exports.handler = async (event, context) => {
  count += 1;
  console.log('hello', event.name);
  if (event.fail) throw new TypeError('node fails');
  return { count, id: context.awsRequestId, fn: context.functionName, mem: context.memoryLimitInMB, left: context.getRemainingTimeInMillis() > 0 };
};
"#;

const NODE_ESM: &str = r#"
export const handler = async (event) => ({ esm: true, got: event });
"#;

const NODE_CALLBACK: &str = r#"
exports.handler = (event, context, callback) => { setTimeout(() => callback(null, { cb: event.v }), 10); };
"#;

#[test]
fn node_commonjs_esm_and_callbacks() {
    let s = TestServer::start();
    create(
        &s,
        "node",
        "nodejs20.x",
        "index.handler",
        &[
            ("index.js", NODE_CJS.as_bytes()),
            ("esm.mjs", NODE_ESM.as_bytes()),
            ("cb.js", NODE_CALLBACK.as_bytes()),
        ],
        json!({}),
    );
    let r = invoke(
        &s,
        "node",
        &json!({ "name": "ada" }),
        &[("x-amz-log-type", "Tail")],
    );
    assert_eq!(r.function_error, None, "{}", r.body);
    assert_eq!(r.body["count"], 1);
    assert_eq!(r.body["fn"], "node");
    assert_eq!(r.body["mem"], "128");
    assert_eq!(r.body["left"], true);
    let id = r.request_id.expect("id");
    let log = r.log.expect("log");
    let line = log.lines().nth(1).expect("console line");
    let parts: Vec<&str> = line.split('\t').collect();
    assert_eq!(&parts[1..], &[id.as_str(), "INFO", "hello ada"], "{line}");
    assert!(parts[0].ends_with('Z') && parts[0].len() == 24, "{line}");
    assert_eq!(invoke(&s, "node", &json!({}), &[]).body["count"], 2);
    let e = invoke(&s, "node", &json!({ "fail": true }), &[]);
    assert_eq!(e.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        (
            e.body["errorType"].as_str(),
            e.body["errorMessage"].as_str()
        ),
        (Some("TypeError"), Some("node fails"))
    );

    let r = s.call_json(
        "PUT",
        "/2015-03-31/functions/node/configuration",
        &json!({ "Handler": "esm.handler" }),
    );
    assert_eq!(r.status, 200);
    s.wait_active("node");
    assert_eq!(
        invoke(&s, "node", &json!({ "a": 1 }), &[]).body,
        json!({ "esm": true, "got": { "a": 1 } })
    );
    let r = s.call_json(
        "PUT",
        "/2015-03-31/functions/node/configuration",
        &json!({ "Handler": "cb.handler" }),
    );
    assert_eq!(r.status, 200);
    s.wait_active("node");
    assert_eq!(
        invoke(&s, "node", &json!({ "v": 7 }), &[]).body,
        json!({ "cb": 7 })
    );
    let r = s.call_json(
        "PUT",
        "/2015-03-31/functions/node/configuration",
        &json!({ "Handler": "missing.handler" }),
    );
    assert_eq!(r.status, 200);
    s.wait_active("node");
    let e = invoke(&s, "node", &json!({}), &[]);
    assert_eq!(e.body["errorType"], "Runtime.ImportModuleError");
    assert_eq!(
        e.body["errorMessage"],
        "Error: Cannot find module 'missing'"
    );
}

/// A code update while an invocation of the old code runs: the old package is not removed
/// under it (the function imports a module of it after the update and succeeds), and it is
/// removed once its last environment has ended.
#[test]
fn a_package_stays_while_an_environment_runs_it_and_goes_after() {
    let s = TestServer::start();
    let old = b"import time\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n    import later\n    return later.VALUE\n";
    create(
        &s,
        "lease",
        "python3.12",
        "app.handler",
        &[("app.py", old), ("later.py", b"VALUE = 'old'\n")],
        json!({ "Timeout": 30 }),
    );
    let pkgs = s.data_dir().join("code/pkgs");
    let packages = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&pkgs)
            .expect("pkgs")
            .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    };
    let before = packages();
    assert_eq!(before.len(), 1);

    std::thread::scope(|scope| {
        let running = scope.spawn(|| invoke(&s, "lease", &json!({ "sleep": 2 }), &[]));
        std::thread::sleep(std::time::Duration::from_millis(700));
        let zip = zip_of(&[("app.py", b"def handler(e, c):\n    return 'new'\n")]);
        let r = s.call_json(
            "PUT",
            "/2015-03-31/functions/lease/code",
            &json!({ "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        s.wait_active("lease");
        // Both packages are there while the old code runs.
        assert_eq!(packages().len(), 2);
        let r = running.join().expect("invoke thread");
        assert_eq!(
            (r.status, r.body),
            (200, json!("old")),
            "the old code ran to its end"
        );
    });
    // The next invocation runs the new code, in a new environment; the old environment ends,
    // and its package with it.
    assert_eq!(invoke(&s, "lease", &json!({}), &[]).body, "new");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while packages().contains(&before[0]) {
        assert!(
            std::time::Instant::now() < deadline,
            "the old package outlived its last environment: {:?}",
            packages()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(packages().len(), 1);
}
