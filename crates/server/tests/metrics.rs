//! `/metrics` against the real server, scraped by a real Prometheus (Debian's package, which
//! `./scripts/test.sh` installs) that this test starts: PromQL returns the invocation count
//! and a p99 duration consistent with what the test invoked.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{zip_of, TestServer};

const TOKEN: &str = "scrape-token-0123456789";

/// Sleeps 40 ms, or fails when asked.
const WORKER: &[u8] = b"import time\ndef handler(event, context):\n    time.sleep(0.04)\n    if event.get('fail'):\n        raise ValueError('asked')\n    return 'ok'\n";

fn server() -> TestServer {
    TestServer::start_with(tempfile::tempdir().expect("tempdir"), |c| {
        c.metrics.token = Some(nimbus_server::Secret(TOKEN.into()));
    })
}

fn scrape(s: &TestServer, auth: Option<&str>) -> (u16, String) {
    let mut req = reqwest::blocking::Client::new().get(s.url("/metrics"));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().expect("scrape");
    (resp.status().as_u16(), resp.text().expect("text"))
}

#[test]
fn metrics_count_what_ran_and_only_authorized_scrapers_read_them() {
    let s = server();
    s.create("worker", &zip_of(&[("app.py", WORKER)]));
    for i in 0..5 {
        let r = s.call_json(
            "POST",
            "/2015-03-31/functions/worker/invocations",
            &json!({ "fail": i == 4 }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(scrape(&s, None).0, 403);
    assert_eq!(scrape(&s, Some("Bearer wrong-token-0123456789")).0, 403);
    let (status, text) = scrape(&s, Some(&format!("Bearer {TOKEN}")));
    assert_eq!(status, 200);
    let labels = r#"{function_name="worker",executed_version="$LATEST"}"#;
    for line in [
        format!("lambda_invocations_total{labels} 5"),
        format!("lambda_errors_total{labels} 1"),
        format!("lambda_cold_starts_total{labels} 1"),
        format!("lambda_duration_seconds_count{labels} 5"),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing in:\n{text}"
        );
    }
    // A SigV4-signed scrape is let in too.
    let r = s.call("GET", "/metrics", b"");
    assert_eq!(r.status, 200);
}

/// A free loopback port (bound, then released for Prometheus to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn query(port: u16, promql: &str) -> Option<f64> {
    let v: Value = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .ok()?
        .bytes()
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn a_real_prometheus_scrapes_the_invocation_count_and_p99() {
    let prometheus = std::path::Path::new("/usr/bin/prometheus");
    assert!(
        prometheus.exists(),
        "Prometheus is missing: run ./scripts/test.sh, which installs it"
    );
    let s = server();
    s.create("worker", &zip_of(&[("app.py", WORKER)]));
    for _ in 0..20 {
        let r = s.call_json(
            "POST",
            "/2015-03-31/functions/worker/invocations",
            &json!({}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: nimbus\n    authorization:\n      credentials: {TOKEN}\n    static_configs:\n      - targets: ['{}']\n",
            s.addr
        ),
    )
    .expect("config");
    let port = free_port();
    let _p = Prometheus(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let count = r#"sum(lambda_invocations_total{function_name="worker"})"#;
    let start = Instant::now();
    loop {
        if query(port, count) == Some(20.0) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "Prometheus never saw 20 invocations (last: {:?})",
            query(port, count)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let p99 = query(
        port,
        r#"histogram_quantile(0.99, sum by (le) (lambda_duration_seconds_bucket{function_name="worker"}))"#,
    )
    .expect("p99");
    // Every invocation slept 40 ms and took well under 64 ms (the next bucket bound).
    assert!((0.032..=0.128).contains(&p99), "p99 {p99}");
}

/// The Grafana dashboard kept in the repo queries only metrics the server exposes.
#[test]
fn the_grafana_dashboard_reads_metrics_the_server_exposes() {
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/nimbus-lambda.json"
    ))
    .expect("dashboard");
    let v: Value = serde_json::from_str(&dashboard).expect("dashboard JSON");
    let s = server();
    s.create("worker", &zip_of(&[("app.py", WORKER)]));
    let r = s.call_json(
        "POST",
        "/2015-03-31/functions/worker/invocations",
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, text) = scrape(&s, Some(&format!("Bearer {TOKEN}")));
    // Every family the server declares (`# TYPE`), with the sample names its type gives
    // (a family with no sample yet, such as throttles, counts too).
    let mut exposed = std::collections::HashSet::new();
    for line in text.lines() {
        let mut parts = line.split(' ');
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            match kind {
                "counter" => {
                    exposed.insert(format!("{name}_total"));
                }
                "histogram" => {
                    for suffix in ["_bucket", "_sum", "_count"] {
                        exposed.insert(format!("{name}{suffix}"));
                    }
                }
                _ => {
                    exposed.insert(name.to_string());
                }
            }
        }
    }
    let mut checked = 0;
    for panel in v["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("lambda_") || word.starts_with("nimbus_") {
                    assert!(
                        exposed.contains(word),
                        "the dashboard queries {word}, which /metrics does not expose"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 9, "{checked}");
}

/// Polls the scrape until `want` holds of it.
fn scrape_until(s: &TestServer, what: &str, want: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let (status, text) = scrape(s, Some(&format!("Bearer {TOKEN}")));
        assert_eq!(status, 200);
        if want(&text) {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} never showed in:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of the sample line that starts with `series ` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn asynchronous_provisioned_and_server_figures_are_exposed() {
    let s = server();
    s.create("worker", &zip_of(&[("app.py", WORKER)]));
    let r = s.call_json(
        "PUT",
        "/2019-09-25/functions/worker/event-invoke-config",
        &json!({ "MaximumRetryAttempts": 0 }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    for fail in [false, true] {
        let r = s.call_with_headers(
            "POST",
            "/2015-03-31/functions/worker/invocations",
            json!({ "fail": fail }).to_string().as_bytes(),
            &[("x-amz-invocation-type", "Event")],
        );
        assert_eq!(r.status, 202, "{}", r.body);
    }
    let w = r#"{function_name="worker"}"#;
    let text = scrape_until(&s, "the failed event's drop", |t| {
        sample(t, &format!("lambda_async_events_dropped_total{w}")) == Some(1.0)
    });
    assert_eq!(
        sample(&text, &format!("lambda_async_event_age_seconds_count{w}")),
        Some(2.0),
        "one dispatch each"
    );
    for writer in ["logs", "events"] {
        let n = sample(
            &text,
            &format!(r#"nimbus_store_commit_seconds_count{{writer="{writer}"}}"#),
        );
        assert!(n.is_some_and(|n| n >= 1.0), "{writer}: {n:?}");
    }
    // An idle environment's runtime holds its long-poll connection open.
    assert!(sample(&text, "nimbus_runtime_api_connections").is_some_and(|n| n >= 1.0));
    assert_eq!(sample(&text, "nimbus_environments_initializing"), Some(0.0));

    // Provisioned concurrency: allocated, and how busy.
    let r = s.call_json("POST", "/2015-03-31/functions/worker/versions", &json!({}));
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.call_json(
        "PUT",
        "/2019-09-30/functions/worker/provisioned-concurrency?Qualifier=1",
        &json!({ "ProvisionedConcurrentExecutions": 1 }),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let p = r#"{function_name="worker",resource="1"}"#;
    let text = scrape_until(&s, "the provisioned environment", |t| {
        sample(t, &format!("lambda_provisioned_concurrency_allocated{p}")) == Some(1.0)
    });
    assert_eq!(
        sample(
            &text,
            &format!("lambda_provisioned_concurrent_executions{p}")
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("lambda_provisioned_concurrency_utilization{p}")
        ),
        Some(0.0)
    );
    // The cost ledger's folds are timed too (a cost report folds first).
    let r = s.call("GET", "/_nimbus/costs", b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let text = scrape_until(&s, "a timed fold", |t| {
        sample(t, r#"nimbus_store_commit_seconds_count{writer="costs"}"#).is_some()
    });
    assert!(text.contains("# HELP lambda_dead_letter_errors "));
}
