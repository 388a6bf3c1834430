//! The cost ledger against the REPORT lines: 1,000 invocations of functions of mixed memory
//! sizes and durations, the server killed with SIGKILL twice along the way, and `nimbus cost`
//! still equal, to the MB-millisecond, to what the REPORT lines billed: nothing lost, nothing
//! counted twice.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine;
use nimbus_server::auth::sign_request;
use serde_json::{json, Value};
use support::{nimbus, zip_of, NimbusProcess, ROLE};

/// (memory MB, ephemeral MB, architecture) of each function.
const FUNCTIONS: [(u32, u32, &str); 4] = [
    (128, 512, "x86_64"),
    (256, 512, "x86_64"),
    (1024, 2048, "x86_64"),
    (1769, 512, "arm64"),
];

fn name(i: usize) -> String {
    format!("billed-{i}")
}

fn create(server: &NimbusProcess, i: usize) {
    let (memory, ephemeral, arch) = FUNCTIONS[i];
    let zip = zip_of(&[(
        "app.py",
        b"import time\ndef handler(event, context):\n    time.sleep(event['ms'] / 1000)\n    return event['ms']\n",
    )]);
    let body = json!({
        "FunctionName": name(i),
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
        "MemorySize": memory,
        "EphemeralStorage": { "Size": ephemeral },
        "Architectures": [arch],
        "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) },
    });
    let (status, out) = server
        .call("POST", "/2015-03-31/functions", Some(&body))
        .expect("create");
    assert_eq!(status, 201, "{out}");
    // As on Lambda, a function is invoked once it is Active (Pending answers 409).
    let path = format!("/2015-03-31/functions/{}/configuration", name(i));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, c) = server.call("GET", &path, None).expect("get");
        if c["State"] == "Active" {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} stayed {}",
            name(i),
            c["State"]
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What one REPORT line billed: (billed ms, memory MB).
fn billed(report: &str) -> (u64, u64) {
    let field = |label: &str| -> u64 {
        let rest = report
            .split('\t')
            .find_map(|f| f.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} in {report:?}"));
        rest.split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a number")
    };
    (field("Billed Duration: "), field("Memory Size: "))
}

/// Invokes `name` with its log tail; the REPORT line's billed figures.
fn invoke(client: &reqwest::blocking::Client, addr: SocketAddr, name: &str, ms: u64) -> (u64, u64) {
    let url = format!("http://{addr}/2015-03-31/functions/{name}/invocations");
    let body = serde_json::to_vec(&json!({ "ms": ms })).expect("json");
    let host = addr.to_string();
    let headers = [("host", host.as_str()), ("x-amz-log-type", "Tail")];
    let signed = sign_request(
        &support::creds(),
        "us-east-1",
        "POST",
        &url,
        &headers,
        &body,
        SystemTime::now(),
    )
    .expect("sign");
    let mut req = client
        .post(&url)
        .header("x-amz-log-type", "Tail")
        .body(body);
    for (k, v) in signed {
        req = req.header(k, v);
    }
    let resp = req.send().expect("invoke");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("x-amz-function-error").is_none());
    let tail = resp
        .headers()
        .get("x-amz-log-result")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v)
                .expect("base64")
        })
        .expect("a log tail");
    let tail = String::from_utf8(tail).expect("utf-8");
    let report = tail
        .lines()
        .find(|l| l.starts_with("REPORT "))
        .unwrap_or_else(|| panic!("no REPORT in {tail}"));
    billed(report)
}

/// Per function: (requests, billed ms × MB), as the REPORT lines add up.
type Sums = BTreeMap<String, (u64, u64)>;

/// `n` invocations spread over the functions, four at a time, of 0 to 30 ms each.
fn burst(server: &NimbusProcess, n: usize, seed: usize, sums: &Arc<Mutex<Sums>>) {
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let sums = Arc::clone(sums);
            let addr = server.addr;
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()
                    .expect("client");
                for k in (w..n).step_by(4) {
                    let i = (k + seed) % FUNCTIONS.len();
                    let ms = ((k * 7 + seed) % 31) as u64;
                    let (billed_ms, memory) = invoke(&client, addr, &name(i), ms);
                    assert_eq!(memory, u64::from(FUNCTIONS[i].0));
                    let mut s = sums.lock().expect("lock");
                    let e = s.entry(name(i)).or_default();
                    e.0 += 1;
                    e.1 += billed_ms * memory;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
}

fn cost(server: &NimbusProcess, by: &str) -> Value {
    let c = support::creds();
    let out = nimbus()
        .args(["cost", "--json", "--by", by])
        .env("NIMBUS_ENDPOINT", server.endpoint())
        .env("NIMBUS_ACCESS_KEY_ID", &c.access_key_id)
        .env("NIMBUS_SECRET_ACCESS_KEY", &c.secret_access_key)
        .output()
        .expect("nimbus cost");
    assert!(
        out.status.success(),
        "nimbus cost: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The ledger's figures per function.
fn ledger(server: &NimbusProcess) -> Sums {
    cost(server, "function")["Groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["Function"].as_str().expect("function").to_string(),
                (
                    g["Requests"].as_u64().expect("requests"),
                    g["BilledMbMilliseconds"].as_u64().expect("mb ms"),
                ),
            )
        })
        .collect()
}

#[test]
fn the_ledger_equals_the_report_lines_across_two_kill_9s() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut server = NimbusProcess::start(&data);
    for i in 0..FUNCTIONS.len() {
        create(&server, i);
    }
    let sums: Arc<Mutex<Sums>> = Arc::default();
    // Killed right after the last answer: what the journal holds is not folded yet.
    burst(&server, 600, 0, &sums);
    server.kill9();
    let mut server = NimbusProcess::start(&data);
    assert_eq!(
        ledger(&server),
        *sums.lock().expect("lock"),
        "after the first kill"
    );
    burst(&server, 400, 1, &sums);
    let expected = sums.lock().expect("lock").clone();
    assert_eq!(expected.values().map(|s| s.0).sum::<u64>(), 1000);
    assert_eq!(ledger(&server), expected, "before the second kill");
    // Folded, then killed: the restart must not fold the same lines again.
    server.kill9();
    let server = NimbusProcess::start(&data);
    assert_eq!(ledger(&server), expected, "after the second kill");

    // The other groupings add up to the same, and the price follows the table.
    let by_version = cost(&server, "version");
    let total: u64 = expected.values().map(|s| s.1).sum();
    assert_eq!(by_version["Total"]["BilledMbMilliseconds"], total);
    assert_eq!(by_version["Groups"][0]["Version"], "$LATEST");
    let by_day = cost(&server, "day");
    assert_eq!(by_day["Total"]["Requests"], 1000);
    let report = cost(&server, "function");
    let prices = &report["Prices"];
    let gb_s = |mb_ms: u64| mb_ms as f64 / 1024.0 / 1000.0;
    let mut compute = 0.0;
    for (i, (_, _, arch)) in FUNCTIONS.iter().enumerate() {
        let price = if *arch == "arm64" {
            prices["Arm64GbSecond"].as_f64()
        } else {
            prices["X86_64GbSecond"].as_f64()
        };
        compute += gb_s(expected[&name(i)].1) * price.expect("price");
    }
    let got = report["Total"]["Cost"]["Compute"]
        .as_f64()
        .expect("compute");
    assert!((got - compute).abs() < 1e-12, "{got} vs {compute}");
    // Only billed-2 has ephemeral storage above the free 512 MB.
    let storage = report["Total"]["EphemeralStorageGbSeconds"]
        .as_f64()
        .expect("storage");
    let billed_ms_2 = expected[&name(2)].1 / 1024;
    assert!(
        (storage - gb_s(billed_ms_2 * 1536)).abs() < 1e-9,
        "{storage}"
    );
}
