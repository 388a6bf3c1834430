//! `nimbus queues` against a real server, and SQS's durability: every acknowledged send is
//! there after kill -9.

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use nimbus_server::auth::sign_request_for;
use serde_json::{json, Value};
use support::{creds, nimbus, NimbusProcess};

/// An SQS JSON-protocol call: the status and the body.
fn sqs(addr: std::net::SocketAddr, op: &str, body: &Value) -> Result<(u16, Value), String> {
    let url = format!("http://{addr}/");
    let host = addr.to_string();
    let target = format!("AmazonSQS.{op}");
    let bytes = body.to_string().into_bytes();
    let headers = [
        ("host", host.as_str()),
        ("x-amz-target", &target),
        ("content-type", "application/x-amz-json-1.0"),
    ];
    let signed = sign_request_for(
        "sqs",
        &creds(),
        "us-east-1",
        "POST",
        &url,
        &headers,
        &bytes,
        SystemTime::now(),
    )
    .map_err(|e| e.to_string())?;
    let mut req = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?
        .post(&url)
        .body(bytes);
    for (k, v) in headers
        .iter()
        .skip(1)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(signed)
    {
        req = req.header(k, v);
    }
    let resp = req.send().map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let raw = resp.bytes().map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_slice(&raw).unwrap_or(Value::Null)))
}

#[track_caller]
fn sqs_ok(server: &NimbusProcess, op: &str, body: Value) -> Value {
    let (status, v) = sqs(server.addr, op, &body).expect("call");
    assert_eq!(status, 200, "{op}: {v}");
    v
}

fn client(server: &NimbusProcess) -> Command {
    let c = creds();
    let mut cmd = nimbus();
    cmd.env("NIMBUS_ENDPOINT", server.endpoint())
        .env("NIMBUS_ACCESS_KEY_ID", &c.access_key_id)
        .env("NIMBUS_SECRET_ACCESS_KEY", &c.secret_access_key);
    cmd
}

#[track_caller]
fn ok(args: &[&str], server: &NimbusProcess) -> String {
    let out = client(server).args(args).output().expect("run nimbus");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn count(server: &NimbusProcess, url: &str, name: &str) -> String {
    sqs_ok(
        server,
        "GetQueueAttributes",
        json!({"QueueUrl": url, "AttributeNames": [name]}),
    )["Attributes"][name]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn queues_list_peek_send_purge_and_redrive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    let dlq = sqs_ok(&server, "CreateQueue", json!({"QueueName": "c-dlq"}))["QueueUrl"]
        .as_str()
        .expect("url")
        .to_string();
    let arn = sqs_ok(
        &server,
        "GetQueueAttributes",
        json!({"QueueUrl": dlq, "AttributeNames": ["QueueArn"]}),
    )["Attributes"]["QueueArn"]
        .as_str()
        .expect("arn")
        .to_string();
    let policy = json!({"deadLetterTargetArn": arn, "maxReceiveCount": 1}).to_string();
    let src = sqs_ok(&server, "CreateQueue", json!({"QueueName": "c-src", "Attributes": {"VisibilityTimeout": "0", "RedrivePolicy": policy}}))["QueueUrl"].as_str().expect("url").to_string();

    let id = ok(&["queues", "send", "c-src", "hello from the cli"], &server);
    assert_eq!(id.trim().len(), 36, "{id}");
    let listed = ok(&["queues", "list"], &server);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("c-src") && l.contains("c-dlq")),
        "{listed}"
    );
    // Peeking twice changes nothing: the message is still visible, never received.
    for _ in 0..2 {
        let peeked = ok(&["queues", "peek", &src], &server);
        let m: Value =
            serde_json::from_str(peeked.lines().next().expect("a message")).expect("json");
        assert_eq!(
            (m["Body"].as_str(), m["ApproximateReceiveCount"].as_u64()),
            (Some("hello from the cli"), Some(0))
        );
    }
    assert_eq!(count(&server, &src, "ApproximateNumberOfMessages"), "1");

    // Received once, then moved to the dead-letter queue by the next receive; redrive brings
    // it back, unreceived.
    let got = sqs_ok(&server, "ReceiveMessage", json!({"QueueUrl": src}));
    assert_eq!(got["Messages"][0]["Body"], "hello from the cli");
    assert!(sqs_ok(&server, "ReceiveMessage", json!({"QueueUrl": src}))
        .get("Messages")
        .is_none());
    assert_eq!(count(&server, &dlq, "ApproximateNumberOfMessages"), "1");
    let out = ok(&["queues", "redrive", "c-dlq"], &server);
    assert!(out.contains("moved 1 messages to c-src"), "{out}");
    assert_eq!(count(&server, &dlq, "ApproximateNumberOfMessages"), "0");
    let back = sqs_ok(
        &server,
        "ReceiveMessage",
        json!({"QueueUrl": src, "MessageSystemAttributeNames": ["ApproximateReceiveCount"]}),
    );
    assert_eq!(
        back["Messages"][0]["Attributes"]["ApproximateReceiveCount"],
        "1"
    );

    let out = ok(&["queues", "purge", &src], &server);
    assert!(out.contains("purged 1 messages"), "{out}");
    // A queue that is no dead-letter queue cannot be redriven; a missing one is named.
    let out = client(&server)
        .args(["queues", "redrive", "c-src"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    // Internal sends (send_internal): an unknown queue is a typed error; a FIFO queue takes
    // every send as a message of its own, equal bodies too.
    let out = client(&server)
        .args(["queues", "send", "nope", "x"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("The specified queue does not exist."));
    let fifo = sqs_ok(
        &server,
        "CreateQueue",
        json!({"QueueName": "c.fifo", "Attributes": {"FifoQueue": "true"}}),
    )["QueueUrl"]
        .as_str()
        .expect("url")
        .to_string();
    ok(&["queues", "send", "c.fifo", "same"], &server);
    ok(&["queues", "send", "c.fifo", "same"], &server);
    let got = sqs_ok(
        &server,
        "ReceiveMessage",
        json!({"QueueUrl": fifo, "MaxNumberOfMessages": 10, "MessageSystemAttributeNames": ["MessageGroupId"]}),
    );
    let got = got["Messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["Attributes"]["MessageGroupId"], "nimbus");
    let out = client(&server)
        .args(["queues", "peek", "nope"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("The specified queue does not exist."));
}

#[test]
fn acknowledged_sends_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut server = NimbusProcess::start(&data);
    let url = sqs_ok(&server, "CreateQueue", json!({"QueueName": "durable"}))["QueueUrl"]
        .as_str()
        .expect("url")
        .to_string();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let addr = server.addr;
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (acked, stop, url) = (Arc::clone(&acked), Arc::clone(&stop), url.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let body = format!("w{w}-{i}");
                    i += 1;
                    if let Ok((200, v)) = sqs(addr, "SendMessageBatch", &json!({"QueueUrl": url, "Entries": [{"Id": "a", "MessageBody": format!("{body}-a")}, {"Id": "b", "MessageBody": format!("{body}-b")}]})) {
                        let mut a = acked.lock().expect("lock");
                        for e in v["Successful"].as_array().into_iter().flatten() {
                            a.push(e["MessageId"].as_str().unwrap_or("").to_string());
                        }
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().expect("lock").len() < 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    server.kill9();
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().expect("worker");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 200,
        "only {} acknowledged before the kill",
        acked.len()
    );

    let server = NimbusProcess::start(&data);
    let url = format!("http://{}/000000000000/durable", server.addr);
    let mut stored = std::collections::HashSet::new();
    loop {
        let got = sqs_ok(
            &server,
            "ReceiveMessage",
            json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 600}),
        );
        let Some(ms) = got["Messages"].as_array().cloned() else {
            break;
        };
        stored.extend(
            ms.iter()
                .map(|m| m["MessageId"].as_str().unwrap_or("").to_string()),
        );
    }
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages lost",
        lost.len(),
        acked.len()
    );
}
