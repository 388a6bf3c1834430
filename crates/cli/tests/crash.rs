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
}
