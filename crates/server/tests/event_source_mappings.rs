//! Event source mappings of SQS queues through the real server and engine (process launcher):
//! the operations and their errors (AWS's words, spec §5b #50), a batch of 10 where 3 items
//! fail with ReportBatchItemFailures (only those 3 come back, and after maxReceiveCount they
//! are in the dead-letter queue), a filter that drops messages, disabling.

mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use nimbus_server::auth::sign_request_for;
use serde_json::{json, Value};
use support::{create_body, creds, zip_of, TestServer, ACCOUNT, REGION};

/// Appends the batch it gets (message ids and bodies) to `$OUT` as one JSON line, and reports
/// as failed the items whose body says `fail`.
const CONSUMER: &[u8] = b"import json, os\ndef handler(event, context):\n    recs = event['Records']\n    with open(os.environ['OUT'], 'a') as f:\n        f.write(json.dumps([{'id': r['messageId'], 'body': r['body'], 'count': r['attributes']['ApproximateReceiveCount'], 'source': r['eventSource'], 'arn': r['eventSourceARN']} for r in recs]) + '\\n')\n    return {'batchItemFailures': [{'itemIdentifier': r['messageId']} for r in recs if 'fail' in r['body']]}\n";

fn sqs(s: &TestServer, op: &str, body: Value) -> Value {
    let url = s.url("/");
    let host = s.addr.to_string();
    let target = format!("AmazonSQS.{op}");
    let headers = [
        ("host", host.as_str()),
        ("x-amz-target", target.as_str()),
        ("content-type", "application/x-amz-json-1.0"),
    ];
    let bytes = body.to_string().into_bytes();
    let signed = sign_request_for(
        "sqs",
        &creds(),
        REGION,
        "POST",
        &url,
        &headers,
        &bytes,
        SystemTime::now(),
    )
    .expect("sign");
    let mut req = reqwest::blocking::Client::new().post(&url).body(bytes);
    for (k, v) in headers[1..].iter() {
        req = req.header(*k, *v);
    }
    for (k, v) in signed {
        req = req.header(k, v);
    }
    let resp = req.send().expect("sqs call");
    assert!(resp.status().is_success(), "{op}: {}", resp.status());
    serde_json::from_str(&resp.text().expect("body")).unwrap_or(Value::Null)
}

fn queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
}

fn create_queue(s: &TestServer, name: &str, attributes: Value) -> String {
    sqs(
        s,
        "CreateQueue",
        json!({ "QueueName": name, "Attributes": attributes }),
    )["QueueUrl"]
        .as_str()
        .expect("url")
        .to_string()
}

fn consumer(s: &TestServer, name: &str, out: &Path) {
    let mut body = create_body(name, &zip_of(&[("app.py", CONSUMER)]));
    body["Environment"] = json!({ "Variables": { "OUT": out.to_str().expect("utf-8") } });
    let r = s.call_json("POST", "/2015-03-31/functions", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    s.wait_active(name);
}

/// The batches the consumer wrote, whole lines only: a line the function is still writing
/// (megabytes, for the large batches) is read next time.
fn batches(out: &Path) -> Vec<Vec<Value>> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |i| &text[..i]);
    complete
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn queue_counts(s: &TestServer, url: &str) -> (u64, u64) {
    let a = sqs(
        s,
        "GetQueueAttributes",
        json!({ "QueueUrl": url, "AttributeNames": ["All"] }),
    );
    let n = |k: &str| {
        a["Attributes"][k]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX)
    };
    (
        n("ApproximateNumberOfMessages"),
        n("ApproximateNumberOfMessagesNotVisible"),
    )
}

fn mapping(s: &TestServer, body: Value) -> support::Resp {
    s.call_json("POST", "/2015-03-31/event-source-mappings", &body)
}

#[test]
fn three_failed_items_of_ten_come_back_alone_then_go_to_the_dead_letter_queue() {
    let s = TestServer::start();
    let files = tempfile::tempdir().expect("tempdir");
    let out = files.path().join("batches");
    consumer(&s, "consumer", &out);
    create_queue(&s, "work-dlq", json!({}));
    let url = create_queue(
        &s,
        "work",
        json!({
            "VisibilityTimeout": "1",
            "RedrivePolicy": json!({ "deadLetterTargetArn": queue_arn("work-dlq"), "maxReceiveCount": 2 }).to_string(),
        }),
    );
    let entries: Vec<Value> = (0..10)
        .map(|i| {
            let body = if i % 3 == 1 {
                format!("fail {i}")
            } else {
                format!("ok {i}")
            };
            json!({ "Id": format!("m{i}"), "MessageBody": body })
        })
        .collect();
    let sent = sqs(
        &s,
        "SendMessageBatch",
        json!({ "QueueUrl": url, "Entries": entries }),
    );
    assert_eq!(
        sent["Successful"].as_array().map(Vec::len),
        Some(10),
        "{sent}"
    );

    let r = mapping(
        &s,
        json!({
            "FunctionName": "consumer",
            "EventSourceArn": queue_arn("work"),
            "BatchSize": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        }),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["State"], "Creating");
    assert_eq!(r.body["BatchSize"], 10);
    assert_eq!(
        r.body["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(r.body["StateTransitionReason"], "USER_INITIATED");
    assert_eq!(
        r.body["FunctionArn"],
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:consumer")
    );

    // The first batch carries all ten; then only the three failures come back, once more.
    wait_for(
        "the dead-letter queue gets the three",
        Duration::from_secs(60),
        || queue_counts(&s, &format!("http://{}/{ACCOUNT}/work-dlq", s.addr)).0 == 3,
    );
    let got = batches(&out);
    assert_eq!(got[0].len(), 10, "{got:?}");
    assert!(got[0]
        .iter()
        .all(|r| r["source"] == "aws:sqs" && r["arn"] == queue_arn("work")));
    let failed: Vec<&str> = got[0]
        .iter()
        .filter(|r| r["body"].as_str().is_some_and(|b| b.starts_with("fail")))
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(failed.len(), 3);
    for later in &got[1..] {
        assert!(
            later
                .iter()
                .all(|r| failed.contains(&r["id"].as_str().expect("id"))),
            "only the failures came back: {later:?}"
        );
        assert!(later.iter().all(|r| r["count"] == "2"), "{later:?}");
    }
    assert!(got.len() >= 2, "the failures came back: {got:?}");
    assert_eq!(
        queue_counts(&s, &url),
        (0, 0),
        "nothing left in the source queue"
    );
    let dead = sqs(
        &s,
        "ReceiveMessage",
        json!({ "QueueUrl": format!("http://{}/{ACCOUNT}/work-dlq", s.addr), "MaxNumberOfMessages": 10 }),
    );
    let mut bodies: Vec<&str> = dead["Messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["Body"].as_str().expect("body"))
        .collect();
    bodies.sort_unstable();
    assert_eq!(bodies, ["fail 1", "fail 4", "fail 7"]);
}

#[test]
fn a_filter_drops_the_messages_it_does_not_match() {
    let s = TestServer::start();
    let files = tempfile::tempdir().expect("tempdir");
    let out = files.path().join("batches");
    consumer(&s, "picky", &out);
    let url = create_queue(&s, "mixed", json!({}));
    let r = mapping(
        &s,
        json!({
            "FunctionName": "picky",
            "EventSourceArn": queue_arn("mixed"),
            "FilterCriteria": { "Filters": [ { "Pattern": r#"{"body": {"kind": ["keep"]}}"# } ] },
        }),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        r.body["FilterCriteria"]["Filters"][0]["Pattern"],
        r#"{"body": {"kind": ["keep"]}}"#
    );
    for (i, kind) in ["keep", "drop", "keep", "drop", "drop"].iter().enumerate() {
        let body = json!({ "kind": kind, "i": i }).to_string();
        sqs(
            &s,
            "SendMessage",
            json!({ "QueueUrl": url, "MessageBody": body }),
        );
    }
    sqs(
        &s,
        "SendMessage",
        json!({ "QueueUrl": url, "MessageBody": "not json" }),
    );
    wait_for("the queue empties", Duration::from_secs(60), || {
        queue_counts(&s, &url) == (0, 0)
    });
    std::thread::sleep(Duration::from_millis(300));
    let seen: Vec<Value> = batches(&out).into_iter().flatten().collect();
    let kinds: Vec<String> = seen
        .iter()
        .map(|r| {
            let b: Value = serde_json::from_str(r["body"].as_str().expect("body")).expect("json");
            b["kind"].as_str().expect("kind").to_string()
        })
        .collect();
    assert_eq!(kinds, ["keep", "keep"], "{seen:?}");
}

#[test]
fn mappings_are_created_listed_updated_and_deleted_with_lambdas_errors() {
    let s = TestServer::start();
    let files = tempfile::tempdir().expect("tempdir");
    consumer(&s, "f", &files.path().join("f"));
    create_queue(&s, "q", json!({}));
    create_queue(&s, "q2.fifo", json!({ "FifoQueue": "true" }));
    let r = mapping(
        &s,
        json!({ "FunctionName": "f", "EventSourceArn": queue_arn("q") }),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let uuid = r.body["UUID"].as_str().expect("uuid").to_string();
    assert_eq!(r.body["BatchSize"], 10);
    assert_eq!(r.body["MaximumBatchingWindowInSeconds"], 0);
    assert_eq!(r.body["FunctionResponseTypes"], json!([]));
    assert_eq!(
        r.body["EventSourceMappingArn"],
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{uuid}")
    );
    let path = format!("/2015-03-31/event-source-mappings/{uuid}");
    wait_for("Enabled", Duration::from_secs(10), || {
        s.call("GET", &path, b"").body["State"] == "Enabled"
    });

    mapping(&s, json!({ "FunctionName": "f", "EventSourceArn": queue_arn("q") })).assert_error(
        409,
        "ResourceConflictException",
        &format!("An event source mapping with SQS arn (\" {} \") and function (\" f \") already exists. Please update or delete the existing mapping with UUID {uuid}", queue_arn("q")),
    );
    mapping(
        &s,
        json!({ "FunctionName": "f", "EventSourceArn": queue_arn("q2.fifo"), "BatchSize": 11, "MaximumBatchingWindowInSeconds": 1 }),
    )
    .assert_error(
        400,
        "InvalidParameterValueException",
        "Batch size cannot be greater than 10 for an SQS FIFO queue.",
    );
    mapping(&s, json!({ "FunctionName": "f", "EventSourceArn": queue_arn("nope") })).assert_error(
        400,
        "InvalidParameterValueException",
        "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does not exist for this wsdl version.",
    );
    let r = mapping(
        &s,
        json!({ "FunctionName": "ghost", "EventSourceArn": queue_arn("q") }),
    );
    assert_eq!(r.status, 404, "{}", r.body);
    s.call_json("PUT", &path, &json!({ "BatchSize": 11 })).assert_error(
        400,
        "InvalidParameterValueException",
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
    );

    let r = s.call_json("PUT", &path, &json!({ "Enabled": false, "BatchSize": 5 }));
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["State"], "Disabling");
    assert_eq!(r.body["BatchSize"], 5);
    wait_for("Disabled", Duration::from_secs(10), || {
        s.call("GET", &path, b"").body["State"] == "Disabled"
    });
    // A disabled mapping polls nothing.
    let q_url = format!("http://{}/{ACCOUNT}/q", s.addr);
    sqs(
        &s,
        "SendMessage",
        json!({ "QueueUrl": q_url, "MessageBody": "waits" }),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(queue_counts(&s, &q_url), (1, 0));
    assert!(!files.path().join("f").exists(), "the function never ran");

    let list = s.call(
        "GET",
        "/2015-03-31/event-source-mappings?FunctionName=f",
        b"",
    );
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(
        list.body["EventSourceMappings"].as_array().map(Vec::len),
        Some(1)
    );
    let none = s.call(
        "GET",
        &format!(
            "/2015-03-31/event-source-mappings?EventSourceArn={}",
            queue_arn("q2.fifo")
        ),
        b"",
    );
    assert_eq!(none.body["EventSourceMappings"], json!([]));

    let r = s.call("DELETE", &path, b"");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["State"], "Deleting");
    s.call("GET", &path, b"").assert_error(
        404,
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
    );
    s.call("DELETE", &path, b"").assert_error(
        404,
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
    );
}

#[test]
fn a_batch_stops_before_the_invocation_payload_limit() {
    let s = TestServer::start();
    let files = tempfile::tempdir().expect("tempdir");
    let out = files.path().join("batches");
    consumer(&s, "big", &out);
    let url = create_queue(&s, "large", json!({}));
    let body = "x".repeat(250_000);
    for _ in 0..30 {
        sqs(
            &s,
            "SendMessage",
            json!({ "QueueUrl": url, "MessageBody": body }),
        );
    }
    let r = mapping(
        &s,
        json!({
            "FunctionName": "big",
            "EventSourceArn": queue_arn("large"),
            "BatchSize": 100,
            "MaximumBatchingWindowInSeconds": 1,
        }),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    wait_for("all 30 processed", Duration::from_secs(60), || {
        batches(&out).iter().map(Vec::len).sum::<usize>() >= 30
    });
    let got = batches(&out);
    assert!(
        got.len() >= 2,
        "7.5 MB of messages cannot be one invocation: {}",
        got.len()
    );
    for b in &got {
        let bytes: usize = b
            .iter()
            .map(|r| r["body"].as_str().map_or(0, str::len))
            .sum();
        assert!(bytes < 6_291_456, "a batch of {bytes} bytes of bodies");
    }
    wait_for("the queue empties", Duration::from_secs(30), || {
        queue_counts(&s, &url) == (0, 0)
    });
}
