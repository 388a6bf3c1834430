//! kill -9 in the middle of a burst of CreateFunction calls: after a restart every function that
//! was acknowledged exists with its code, none is half-made, and the store checks out.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{create_body, nimbus, python_zip, sha256_b64, NimbusProcess};

#[test]
fn kill_9_during_100_creates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut server = NimbusProcess::start(&data);
    let addr = server.addr;

    let next = Arc::new(AtomicUsize::new(0));
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let (next, acked, stop) = (Arc::clone(&next), Arc::clone(&acked), Arc::clone(&stop));
            thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= 100 || stop.load(Ordering::SeqCst) {
                    return;
                }
                let name = format!("burst-{i:03}");
                // Distinct code per function, so that every package is its own.
                let zip = python_zip(&format!("{i}"));
                match support::call(
                    addr,
                    "POST",
                    "/2015-03-31/functions",
                    Some(&create_body(&name, &zip)),
                ) {
                    Ok((201, _)) => acked.lock().expect("lock").push((name, sha256_b64(&zip))),
                    Ok((status, body)) => panic!("unexpected {status}: {body}"),
                    // The server died under us: this one was never acknowledged.
                    Err(_) => {}
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().expect("lock").len() < 30 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(2));
    }
    server.kill9();
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().expect("worker");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 30,
        "only {} acknowledged before the kill",
        acked.len()
    );
    eprintln!("{} of 100 creates acknowledged before kill -9", acked.len());

    let server = NimbusProcess::start(&data);
    for (name, sha) in &acked {
        let (status, f) = server
            .call("GET", &format!("/2015-03-31/functions/{name}"), None)
            .expect("get");
        assert_eq!(status, 200, "acknowledged function {name} is missing: {f}");
        assert_eq!(
            f["Configuration"]["CodeSha256"].as_str(),
            Some(sha.as_str())
        );
    }
    // Nothing half-made: every function that exists is Active and its code downloads intact.
    let (_, page1) = server
        .call("GET", "/2015-03-31/functions", None)
        .expect("list");
    let mut all: Vec<Value> = page1["Functions"].as_array().cloned().unwrap_or_default();
    if let Some(m) = page1["NextMarker"].as_str() {
        let (_, page2) = server
            .call("GET", &format!("/2015-03-31/functions?Marker={m}"), None)
            .expect("list");
        all.extend(page2["Functions"].as_array().cloned().unwrap_or_default());
    }
    assert!(all.len() >= acked.len());
    for f in &all {
        let name = f["FunctionName"].as_str().expect("name");
        assert_eq!(f["State"], "Active", "{name} was left {}", f["State"]);
        let (_, full) = server
            .call("GET", &format!("/2015-03-31/functions/{name}"), None)
            .expect("get");
        let location = full["Code"]["Location"].as_str().expect("location");
        let zip = reqwest::blocking::get(location)
            .expect("download")
            .bytes()
            .expect("bytes");
        assert_eq!(
            sha256_b64(&zip),
            f["CodeSha256"].as_str().expect("sha"),
            "{name}'s code"
        );
    }
    drop(server);

    let out = nimbus()
        .args(["check", "--data-dir"])
        .arg(&data)
        .output()
        .expect("nimbus check");
    assert!(
        out.status.success(),
        "integrity check failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The check reads every package's whole tree: one changed byte anywhere is found, named.
    let pkgs = data.join("code/pkgs");
    let pkg = std::fs::read_dir(&pkgs)
        .expect("pkgs")
        .next()
        .expect("a package")
        .expect("entry")
        .path();
    let file = std::fs::read_dir(&pkg)
        .expect("package")
        .map(|e| e.expect("entry").path())
        .find(|p| p.is_file())
        .expect("a file");
    let mut bytes = std::fs::read(&file).expect("read");
    bytes[0] ^= 1;
    std::fs::write(&file, &bytes).expect("tamper");
    let out = nimbus()
        .args(["check", "--data-dir"])
        .arg(&data)
        .output()
        .expect("nimbus check");
    let said = String::from_utf8_lossy(&out.stdout);
    let name = file
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    assert!(!out.status.success(), "a changed file went unseen: {said}");
    assert!(said.contains(&format!("\"{name}\" changed")), "{said}");
}

/// Appends the `i` of each event it gets (the record's request payload's, for a destination)
/// to `$OUT`, one line each.
const SINK: &str = "import json, os\ndef handler(event, context):\n    i = event['requestPayload']['i'] if 'requestPayload' in event else event['i']\n    with open(os.environ['OUT'], 'a') as f:\n        f.write('%d\\n' % i)\n    return i\n";

/// kill -9 while 10,000 asynchronous invocations are being accepted: after a restart every
/// event that got its 202 is processed at least once, counted through the records its
/// function's OnSuccess destination receives.
#[test]
fn kill_9_while_accepting_10000_async_invocations() {
    const TOTAL: usize = 10_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let sink_out = dir.path().join("sink.lines");
    let config = dir.path().join("nimbus.toml");
    // The queue is under test, not isolation: the process launcher lets the sink write here.
    std::fs::write(
        &config,
        "launcher = \"process\"\nkeep_alive_seconds = 600\n[async]\nmax_in_flight = 16\n",
    )
    .expect("config");
    let start = || NimbusProcess::start_with_config(&data, &config);
    let mut server = start();
    for (name, code) in [
        ("work", "def handler(event, context):\n    return event\n"),
        ("sink", SINK),
    ] {
        let mut body = create_body(name, &support::zip_of(&[("app.py", code.as_bytes())]));
        body["Environment"] =
            serde_json::json!({ "Variables": { "OUT": sink_out.to_str().expect("utf-8") } });
        let (status, b) = server
            .call("POST", "/2015-03-31/functions", Some(&body))
            .expect("create");
        assert_eq!(status, 201, "{b}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for name in ["work", "sink"] {
        loop {
            let (_, f) = server
                .call("GET", &format!("/2015-03-31/functions/{name}"), None)
                .expect("get");
            if f["Configuration"]["State"] == "Active" {
                break;
            }
            assert!(Instant::now() < deadline, "{name} never became Active");
            thread::sleep(Duration::from_millis(20));
        }
    }
    let (status, b) = server
        .call(
            "PUT",
            "/2019-09-25/functions/work/event-invoke-config",
            Some(&serde_json::json!({ "DestinationConfig": { "OnSuccess": {
                "Destination": "arn:aws:lambda:us-east-1:000000000000:function:sink" } } })),
        )
        .expect("put config");
    assert_eq!(status, 200, "{b}");

    let addr = server.addr;
    let next = Arc::new(AtomicUsize::new(0));
    let acked: Arc<Mutex<Vec<usize>>> = Arc::default();
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (next, acked) = (Arc::clone(&next), Arc::clone(&acked));
            thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("client");
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= TOTAL {
                        return;
                    }
                    match support::call_on(
                        &client,
                        addr,
                        "POST",
                        "/2015-03-31/functions/work/invocations",
                        Some(&serde_json::json!({ "i": i })),
                        &[("x-amz-invocation-type", "Event")],
                    ) {
                        Ok((202, _)) => acked.lock().expect("lock").push(i),
                        Ok((status, body)) => panic!("unexpected {status}: {body}"),
                        // The server died under us: this one was never acknowledged, and
                        // neither will any after it be.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().expect("lock").len() < TOTAL / 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    server.kill9();
    for w in workers {
        w.join().expect("worker");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= TOTAL / 2 && acked.len() < TOTAL,
        "{} acknowledged when the server was killed",
        acked.len()
    );
    eprintln!(
        "{} of {TOTAL} events acknowledged before kill -9",
        acked.len()
    );

    let server = start();
    let deadline = Instant::now() + Duration::from_secs(600);
    let missing = loop {
        let text = std::fs::read_to_string(&sink_out).unwrap_or_default();
        let seen: std::collections::HashSet<usize> =
            text.lines().filter_map(|l| l.parse().ok()).collect();
        let missing: Vec<usize> = acked
            .iter()
            .copied()
            .filter(|i| !seen.contains(i))
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        thread::sleep(Duration::from_millis(200));
    };
    assert!(
        missing.is_empty(),
        "{} acknowledged events never reached the destination, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    drop(server);
}
