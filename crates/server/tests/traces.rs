//! Traces of Active-tracing functions, received by an OTLP/HTTP receiver that decodes them with
//! OpenTelemetry's own protobuf schema (`otlp/receiver.py`, opentelemetry-proto): the caller's
//! X-Ray trace continued (its root as the trace id, its span as the parent), the cold start's
//! spans, the runtime given Nimbus's span as its parent; PassThrough records nothing.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use support::{create_body, zip_of, TestServer};

const CALLER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

/// The test environment's Python, which test.sh gives opentelemetry-proto.
fn python() -> PathBuf {
    let p = std::env::var("NIMBUS_TEST_PYTHON").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-test/bin/python"),
        PathBuf::from,
    );
    let ok = Command::new(&p)
        .args(["-c", "import opentelemetry.proto"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no Python with opentelemetry-proto at {}: run ./scripts/test.sh, which installs it",
        p.display()
    );
    p
}

/// The receiver, its port, and the spans it prints.
struct Receiver {
    child: Child,
    port: u16,
    spans: mpsc::Receiver<Value>,
}

impl Receiver {
    fn start() -> Self {
        let mut child = Command::new(python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otlp/receiver.py"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the receiver");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let port = lines
            .next()
            .expect("the port line")
            .expect("read")
            .trim()
            .parse()
            .expect("a port");
        let (tx, spans) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line).expect("a JSON span");
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Self { child, port, spans }
    }

    /// The next `n` spans (batches arrive about every 100 ms).
    fn take(&self, n: usize) -> Vec<Value> {
        (0..n)
            .map(|i| {
                self.spans
                    .recv_timeout(Duration::from_secs(20))
                    .unwrap_or_else(|_| panic!("span {i} of {n} never came"))
            })
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const APP: &[u8] =
    b"import os\ndef handler(event, context):\n    return os.environ.get('_X_AMZN_TRACE_ID')\n";

fn create(s: &TestServer, name: &str, mode: &str) {
    let mut body = create_body(name, &zip_of(&[("app.py", APP)]));
    body["TracingConfig"] = json!({ "Mode": mode });
    let r = s.call_json("POST", "/2015-03-31/functions", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    s.wait_active(name);
}

/// Invokes `name` with the caller's trace header: what the function saw as its trace.
fn invoke(s: &TestServer, name: &str) -> String {
    let r = s.call_with_headers(
        "POST",
        &format!("/2015-03-31/functions/{name}/invocations"),
        b"{}",
        &[("x-amzn-trace-id", CALLER)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .as_str()
        .expect("the function's trace header")
        .to_string()
}

fn by_name<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} span in {spans:#?}"))
}

#[test]
fn an_active_function_continues_the_callers_trace_with_its_cold_start_spans() {
    let receiver = Receiver::start();
    let endpoint = format!("http://127.0.0.1:{}", receiver.port);
    let s = TestServer::start_with(tempfile::tempdir().expect("tempdir"), |c| {
        c.traces.otlp_endpoint = Some(endpoint);
        c.traces.export_interval_ms = 100;
    });
    create(&s, "traced", "Active");
    let seen = invoke(&s, "traced");

    // function, admission, cold start, sandbox, init, dispatch, finish.
    let spans = receiver.take(7);
    for span in &spans {
        assert_eq!(
            span["trace_id"], "5759e988bd862e3fe1be46a994272793",
            "{span}"
        );
        assert_eq!(span["resource"]["service.name"], "nimbus");
        assert_eq!(span["scope"], "nimbus");
    }
    let root = by_name(&spans, "traced");
    assert_eq!(
        root["parent_span_id"], "53995c3f42cd8ad8",
        "the caller's span"
    );
    assert_eq!(root["kind"], 2, "SERVER");
    assert_eq!(root["attributes"]["faas.coldstart"], true);
    assert_eq!(root["attributes"]["faas.name"], "traced");
    assert_eq!(
        root["attributes"]["aws.xray.trace_id"],
        "1-5759e988-bd862e3fe1be46a994272793"
    );
    let root_id = root["span_id"].as_str().expect("span id");
    // The function saw the same trace, under Nimbus's span.
    assert_eq!(
        seen,
        format!("Root=1-5759e988-bd862e3fe1be46a994272793;Parent={root_id};Sampled=1")
    );
    let cold = by_name(&spans, "cold start");
    assert_eq!(cold["parent_span_id"], root_id);
    let cold_id = cold["span_id"].as_str().expect("span id");
    for name in ["sandbox", "init"] {
        assert_eq!(by_name(&spans, name)["parent_span_id"], cold_id, "{name}");
    }
    for name in ["admission", "dispatch", "finish"] {
        assert_eq!(by_name(&spans, name)["parent_span_id"], root_id, "{name}");
    }
    // The stages follow each other within the invocation's span.
    let t = |name: &str, edge: &str| by_name(&spans, name)[edge].as_u64().expect("time");
    assert!(t("traced", "start") <= t("admission", "start"));
    assert!(t("admission", "end") <= t("sandbox", "start"));
    assert!(t("sandbox", "end") <= t("init", "start"));
    assert!(t("init", "end") <= t("dispatch", "start"));
    assert!(t("dispatch", "end") <= t("finish", "start"));
    assert!(t("finish", "end") <= t("traced", "end"));
    assert!(
        t("init", "end") > t("init", "start"),
        "the init phase took time"
    );

    // Warm: no cold start spans.
    invoke(&s, "traced");
    let warm = receiver.take(4);
    let names: Vec<&str> = warm.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names.len(), 4);
    for name in ["traced", "admission", "dispatch", "finish"] {
        assert!(names.contains(&name), "{names:?}");
    }
    assert_eq!(
        by_name(&warm, "traced")["attributes"]["faas.coldstart"],
        false
    );

    // PassThrough: the header goes to the function as it came, and nothing is recorded.
    create(&s, "passing", "PassThrough");
    assert_eq!(invoke(&s, "passing"), CALLER);
    invoke(&s, "traced");
    let next = receiver.take(4);
    assert!(next.iter().all(|s| s["name"] != "passing"), "{next:#?}");
}

#[test]
fn without_a_callers_decision_the_sampling_rule_decides() {
    let receiver = Receiver::start();
    let endpoint = format!("http://127.0.0.1:{}", receiver.port);
    let s = TestServer::start_with(tempfile::tempdir().expect("tempdir"), |c| {
        c.traces.otlp_endpoint = Some(endpoint);
        c.traces.export_interval_ms = 100;
        c.traces.reservoir_per_second = 2;
        c.traces.sample_rate = nimbus_server::config::Float(0.0);
    });
    create(&s, "sampled", "Active");
    let started = std::time::Instant::now();
    let mut headers = Vec::new();
    for _ in 0..10 {
        let r = s.call_json(
            "POST",
            "/2015-03-31/functions/sampled/invocations",
            &json!({}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        headers.push(r.body.as_str().expect("header").to_string());
    }
    let seconds = started.elapsed().as_secs() + 1;
    let recorded = headers.iter().filter(|h| h.ends_with(";Sampled=1")).count();
    let unrecorded = headers.iter().filter(|h| h.ends_with(";Sampled=0")).count();
    assert_eq!(recorded + unrecorded, 10, "{headers:?}");
    // Two a second: two, or a few more if the run crossed into the next seconds.
    assert!(
        recorded >= 2 && recorded as u64 <= 2 * (seconds + 1),
        "{recorded} in {seconds} s: {headers:?}"
    );
    // Exactly the recorded ones are exported: their root spans, one each.
    let mut roots = 0;
    while let Ok(span) = receiver.spans.recv_timeout(Duration::from_secs(2)) {
        roots += usize::from(span["name"] == "sampled");
    }
    assert_eq!(roots, recorded);
}

#[test]
fn a_failed_init_is_traced_as_a_failed_cold_start() {
    let receiver = Receiver::start();
    let endpoint = format!("http://127.0.0.1:{}", receiver.port);
    let s = TestServer::start_with(tempfile::tempdir().expect("tempdir"), |c| {
        c.traces.otlp_endpoint = Some(endpoint);
        c.traces.export_interval_ms = 100;
    });
    let mut body = create_body("broken", &zip_of(&[("app.py", b"import not_a_module\n")]));
    body["TracingConfig"] = json!({ "Mode": "Active" });
    let r = s.call_json("POST", "/2015-03-31/functions", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    s.wait_active("broken");
    let r = s.call_with_headers(
        "POST",
        "/2015-03-31/functions/broken/invocations",
        b"{}",
        &[("x-amzn-trace-id", CALLER)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("x-amz-function-error").as_deref(),
        Some("Unhandled")
    );
    // The function's span, admission and the failed cold start: nothing was dispatched.
    let spans = receiver.take(3);
    let root = by_name(&spans, "broken");
    assert_eq!(root["status"], 2, "ERROR");
    assert_eq!(root["trace_id"], "5759e988bd862e3fe1be46a994272793");
    let cold = by_name(&spans, "cold start");
    assert_eq!(cold["status"], 2);
    assert_eq!(
        cold["attributes"]["error.type"],
        "Runtime.ImportModuleError"
    );
    assert_eq!(cold["parent_span_id"], root["span_id"]);
    by_name(&spans, "admission");
    assert!(
        receiver
            .spans
            .recv_timeout(Duration::from_millis(500))
            .is_err(),
        "no dispatch or finish span"
    );
}
