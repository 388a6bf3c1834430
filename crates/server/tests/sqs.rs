//! SQS on a real server: both protocols, FIFO, visibility, redrive, long polls, batches,
//! validation and hostile input. Expected wording is AWS's (botocore's model and AWS's docs).

mod support;

use std::time::{Duration, Instant, SystemTime};

use nimbus_server::auth::sign_request_for;
use serde_json::{json, Value};
use support::{creds, TestServer, ACCOUNT, REGION};

struct Answer {
    status: u16,
    query_error: Option<String>,
    text: String,
    json: Value,
}

impl Answer {
    fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "{}", self.text);
        &self.json
    }

    fn error(&self, status: u16, shape: &str, query_code: &str, message: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.json["__type"],
            format!("com.amazonaws.sqs#{shape}"),
            "{}",
            self.text
        );
        assert_eq!(
            self.query_error.as_deref(),
            Some(format!("{query_code};Sender").as_str())
        );
        assert_eq!(self.json["message"], message, "{}", self.text);
    }
}

fn raw(
    server: &TestServer,
    service: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let url = server.url(path);
    let host = server.addr.to_string();
    let mut all: Vec<(&str, &str)> = vec![("host", &host)];
    all.extend_from_slice(headers);
    let signed = sign_request_for(
        service,
        &creds(),
        REGION,
        "POST",
        &url,
        &all,
        body,
        SystemTime::now(),
    )
    .expect("sign");
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let mut req = http.post(&url).body(body.to_vec());
    for (k, v) in headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(signed)
    {
        req = req.header(k, v);
    }
    let resp = req.send().expect("request");
    let status = resp.status().as_u16();
    let query_error = resp
        .headers()
        .get("x-amzn-query-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = resp.text().expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        query_error,
        text,
        json,
    }
}

/// A JSON-protocol call.
fn sqs(server: &TestServer, op: &str, body: Value) -> Answer {
    let target = format!("AmazonSQS.{op}");
    raw(
        server,
        "sqs",
        "/",
        &[
            ("x-amz-target", &target),
            ("content-type", "application/x-amz-json-1.0"),
        ],
        body.to_string().as_bytes(),
    )
}

/// A query-protocol call posted to `path`.
fn query(server: &TestServer, path: &str, form: &[(&str, &str)]) -> Answer {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().copied())
        .append_pair("Version", "2012-11-05")
        .finish();
    raw(
        server,
        "sqs",
        path,
        &[("content-type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
}

fn create(server: &TestServer, name: &str, attributes: Value) -> String {
    let a = sqs(
        server,
        "CreateQueue",
        json!({"QueueName": name, "Attributes": attributes}),
    );
    a.ok()["QueueUrl"].as_str().expect("url").to_string()
}

fn receive(server: &TestServer, url: &str, extra: Value) -> Vec<Value> {
    let mut body = json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "MessageSystemAttributeNames": ["All"], "MessageAttributeNames": ["All"]});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    sqs(server, "ReceiveMessage", body).ok()["Messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn attribute(server: &TestServer, url: &str, name: &str) -> String {
    sqs(
        server,
        "GetQueueAttributes",
        json!({"QueueUrl": url, "AttributeNames": [name]}),
    )
    .ok()["Attributes"][name]
        .as_str()
        .expect("attribute")
        .to_string()
}

#[test]
fn queues_are_created_found_listed_and_deleted() {
    let server = TestServer::start();
    let url = create(&server, "orders", json!({"VisibilityTimeout": "60"}));
    assert_eq!(url, format!("http://{}/{ACCOUNT}/orders", server.addr));
    // The same attributes again: the same queue; another value: AWS's error.
    assert_eq!(
        create(&server, "orders", json!({"VisibilityTimeout": "60"})),
        url
    );
    assert_eq!(create(&server, "orders", json!({})), url);
    sqs(&server, "CreateQueue", json!({"QueueName": "orders", "Attributes": {"VisibilityTimeout": "61"}})).error(
        400,
        "QueueNameExists",
        "QueueAlreadyExists",
        "A queue already exists with the same name and a different value for attribute VisibilityTimeout",
    );
    let got = sqs(&server, "GetQueueUrl", json!({"QueueName": "orders"}));
    assert_eq!(got.ok()["QueueUrl"], url);
    sqs(&server, "GetQueueUrl", json!({"QueueName": "nope"})).error(
        400,
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "The specified queue does not exist.",
    );
    for n in 0..5 {
        create(&server, &format!("page-{n}"), json!({}));
    }
    let all = sqs(&server, "ListQueues", json!({}));
    assert_eq!(all.ok()["QueueUrls"].as_array().expect("urls").len(), 6);
    assert!(all.ok().get("NextToken").is_none());
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"QueueNamePrefix": "page-", "MaxResults": 2});
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let page = sqs(&server, "ListQueues", body);
        let page = page.ok();
        seen.extend(page["QueueUrls"].as_array().cloned().unwrap_or_default());
        match page.get("NextToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    sqs(&server, "ListQueues", json!({"MaxResults": 1001})).error(
        400,
        "InvalidParameterValueException",
        "InvalidParameterValue",
        "Value 1001 for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.",
    );

    // Attributes: All, one, defaults, ARN; Set, and its validation.
    let all = sqs(
        &server,
        "GetQueueAttributes",
        json!({"QueueUrl": url, "AttributeNames": ["All"]}),
    );
    let attrs = &all.ok()["Attributes"];
    assert_eq!(attrs["VisibilityTimeout"], "60");
    assert_eq!(attrs["MessageRetentionPeriod"], "345600");
    assert_eq!(attrs["MaximumMessageSize"], "262144");
    assert_eq!(
        attrs["QueueArn"],
        format!("arn:aws:sqs:{REGION}:{ACCOUNT}:orders")
    );
    assert_eq!(attrs["ApproximateNumberOfMessages"], "0");
    assert!(attrs.get("FifoQueue").is_none());
    let ok = sqs(
        &server,
        "SetQueueAttributes",
        json!({"QueueUrl": url, "Attributes": {"DelaySeconds": "3"}}),
    );
    ok.ok();
    assert_eq!(attribute(&server, &url, "DelaySeconds"), "3");
    sqs(
        &server,
        "SetQueueAttributes",
        json!({"QueueUrl": url, "Attributes": {"DelaySeconds": "901"}}),
    )
    .error(
        400,
        "InvalidAttributeValue",
        "InvalidAttributeValue",
        "Invalid value for the parameter DelaySeconds.",
    );
    sqs(
        &server,
        "SetQueueAttributes",
        json!({"QueueUrl": url, "Attributes": {"Colour": "blue"}}),
    )
    .error(
        400,
        "InvalidAttributeName",
        "InvalidAttributeName",
        "Unknown Attribute Colour.",
    );
    sqs(&server, "CreateQueue", json!({"QueueName": "bad name"})).error(
        400,
        "InvalidParameterValueException",
        "InvalidParameterValue",
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
    );
    sqs(&server, "CreateQueue", json!({"QueueName": "nofifo", "Attributes": {"FifoQueue": "true"}})).error(
        400,
        "InvalidParameterValueException",
        "InvalidParameterValue",
        "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.",
    );
    // A failed change changed nothing.
    assert_eq!(attribute(&server, &url, "DelaySeconds"), "3");

    // Tags.
    sqs(
        &server,
        "TagQueue",
        json!({"QueueUrl": url, "Tags": {"team": "a", "env": "dev"}}),
    )
    .ok();
    sqs(
        &server,
        "UntagQueue",
        json!({"QueueUrl": url, "TagKeys": ["env"]}),
    )
    .ok();
    let tags = sqs(&server, "ListQueueTags", json!({"QueueUrl": url}));
    assert_eq!(tags.ok()["Tags"], json!({"team": "a"}));

    sqs(&server, "DeleteQueue", json!({"QueueUrl": url})).ok();
    sqs(&server, "DeleteQueue", json!({"QueueUrl": url})).error(
        400,
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "The specified queue does not exist.",
    );
    // Another account's URL is no queue of ours.
    sqs(
        &server,
        "GetQueueAttributes",
        json!({"QueueUrl": format!("http://x/111111111111/page-0")}),
    )
    .error(
        400,
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "The specified queue does not exist.",
    );
}

#[test]
fn messages_are_sent_received_hidden_and_deleted() {
    let server = TestServer::start();
    let url = create(&server, "work", json!({"VisibilityTimeout": "1"}));
    let sent = sqs(
        &server,
        "SendMessage",
        json!({
            "QueueUrl": url,
            "MessageBody": "hello ✓",
            "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "greeting"}, "n": {"DataType": "Number", "StringValue": "42"}}
        }),
    );
    let sent = sent.ok().clone();
    assert_eq!(sent["MD5OfMessageBody"], hex_md5("hello ✓".as_bytes()));
    assert!(sent["MD5OfMessageAttributes"].is_string());
    let got = receive(&server, &url, json!({}));
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m["MessageId"], sent["MessageId"]);
    assert_eq!(m["Body"], "hello ✓");
    assert_eq!(m["MD5OfBody"], sent["MD5OfMessageBody"]);
    assert_eq!(m["MD5OfMessageAttributes"], sent["MD5OfMessageAttributes"]);
    assert_eq!(
        m["MessageAttributes"]["n"],
        json!({"StringValue": "42", "DataType": "Number"})
    );
    assert_eq!(m["Attributes"]["ApproximateReceiveCount"], "1");
    assert_eq!(m["Attributes"]["SenderId"], ACCOUNT);
    // In flight: nothing more to receive, counted as not visible.
    assert!(receive(&server, &url, json!({})).is_empty());
    assert_eq!(
        attribute(&server, &url, "ApproximateNumberOfMessagesNotVisible"),
        "1"
    );
    // After the visibility timeout: again, counted, with a new receipt handle.
    std::thread::sleep(Duration::from_millis(1100));
    let again = receive(&server, &url, json!({}));
    assert_eq!(again[0]["Attributes"]["ApproximateReceiveCount"], "2");
    assert_ne!(again[0]["ReceiptHandle"], m["ReceiptHandle"]);
    // The first receipt no longer changes its visibility; the latest does.
    sqs(&server, "ChangeMessageVisibility", json!({"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0})).error(
        400,
        "InvalidParameterValueException",
        "InvalidParameterValue",
        &format!("Value {} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", m["ReceiptHandle"].as_str().expect("handle")),
    );
    sqs(&server, "ChangeMessageVisibility", json!({"QueueUrl": url, "ReceiptHandle": again[0]["ReceiptHandle"], "VisibilityTimeout": 0})).ok();
    let third = receive(&server, &url, json!({"VisibilityTimeout": 30}));
    assert_eq!(third[0]["Attributes"]["ApproximateReceiveCount"], "3");
    sqs(
        &server,
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": third[0]["ReceiptHandle"]}),
    )
    .ok();
    // Deleting again succeeds (AWS); a handle that is no handle is refused.
    sqs(
        &server,
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": third[0]["ReceiptHandle"]}),
    )
    .ok();
    sqs(
        &server,
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": "garbage"}),
    )
    .error(
        400,
        "ReceiptHandleIsInvalid",
        "ReceiptHandleIsInvalid",
        "The input receipt handle \"garbage\" is not a valid receipt handle.",
    );
    assert_eq!(
        attribute(&server, &url, "ApproximateNumberOfMessagesNotVisible"),
        "0"
    );

    // Delays count as delayed; purge empties the queue.
    sqs(
        &server,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "later", "DelaySeconds": 60}),
    )
    .ok();
    sqs(
        &server,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "now"}),
    )
    .ok();
    assert_eq!(
        attribute(&server, &url, "ApproximateNumberOfMessagesDelayed"),
        "1"
    );
    assert_eq!(attribute(&server, &url, "ApproximateNumberOfMessages"), "1");
    sqs(&server, "PurgeQueue", json!({"QueueUrl": url})).ok();
    sqs(&server, "PurgeQueue", json!({"QueueUrl": url})).error(
        403,
        "PurgeQueueInProgress",
        "AWS.SimpleQueueService.PurgeQueueInProgress",
        "Only one PurgeQueue operation on work is allowed every 60 seconds.",
    );
    assert_eq!(attribute(&server, &url, "ApproximateNumberOfMessages"), "0");
    assert_eq!(
        attribute(&server, &url, "ApproximateNumberOfMessagesDelayed"),
        "0"
    );

    // Receive's ranges.
    sqs(&server, "ReceiveMessage", json!({"QueueUrl": url, "MaxNumberOfMessages": 11})).error(
        400,
        "InvalidParameterValueException",
        "InvalidParameterValue",
        "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
    );
    sqs(&server, "ReceiveMessage", json!({"QueueUrl": url, "WaitTimeSeconds": 21})).error(
        400,
        "InvalidParameterValueException",
        "InvalidParameterValue",
        "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.",
    );
}

/// MD5 (hex), written out here (RFC 1321) so that the server's digests are checked against
/// another implementation than its own.
fn hex_md5(input: &[u8]) -> String {
    let s: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let (mut a0, mut b0, mut c0, mut d0) =
        (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    let mut msg = input.to_vec();
    let bits = (input.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_le_bytes());
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(s[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    [a0, b0, c0, d0]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn fifo_queues_keep_group_order_and_drop_duplicates() {
    let server = TestServer::start();
    let url = create(
        &server,
        "jobs.fifo",
        json!({"FifoQueue": "true", "ContentBasedDeduplication": "true"}),
    );
    let mut seqs = Vec::new();
    for (group, body) in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("a", "a3")] {
        let s = sqs(
            &server,
            "SendMessage",
            json!({"QueueUrl": url, "MessageBody": body, "MessageGroupId": group}),
        );
        seqs.push(s.ok()["SequenceNumber"].as_str().expect("seq").to_string());
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // Content-based deduplication: the same body again is the same message.
    let dup = sqs(
        &server,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "a1", "MessageGroupId": "a"}),
    );
    assert_eq!(dup.ok()["SequenceNumber"], seqs[0]);
    // An explicit id deduplicates whatever the body.
    let first = sqs(
        &server,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "x", "MessageGroupId": "c", "MessageDeduplicationId": "d-1"}),
    );
    let second = sqs(
        &server,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "y", "MessageGroupId": "c", "MessageDeduplicationId": "d-1"}),
    );
    assert_eq!(first.ok()["MessageId"], second.ok()["MessageId"]);
    sqs(
        &server,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "z"}),
    )
    .error(
        400,
        "MissingRequiredParameterException",
        "MissingParameter",
        "The request must contain the parameter MessageGroupId.",
    );
    sqs(&server, "SendMessage", json!({"QueueUrl": url, "MessageBody": "z", "MessageGroupId": "a", "DelaySeconds": 5})).error(
        400,
        "InvalidParameterValueException",
        "InvalidParameterValue",
        "Value 5 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.",
    );

    let bodies = |ms: &[Value]| {
        ms.iter()
            .map(|m| m["Body"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let got = receive(&server, &url, json!({"MaxNumberOfMessages": 2}));
    assert_eq!(bodies(&got), ["a1", "b1"]);
    assert_eq!(got[0]["Attributes"]["MessageGroupId"], "a");
    assert_eq!(got[0]["Attributes"]["SequenceNumber"], seqs[0]);
    assert!(got[0]["Attributes"]["MessageDeduplicationId"].is_string());
    // Groups a and b are in flight: only c delivers.
    assert_eq!(bodies(&receive(&server, &url, json!({}))), ["x"]);
    assert!(receive(&server, &url, json!({})).is_empty());
    sqs(
        &server,
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": got[0]["ReceiptHandle"]}),
    )
    .ok();
    assert_eq!(bodies(&receive(&server, &url, json!({}))), ["a2", "a3"]);

    // A FIFO queue without content-based deduplication needs an id.
    let plain = create(&server, "plain.fifo", json!({"FifoQueue": "true"}));
    sqs(&server, "SendMessage", json!({"QueueUrl": plain, "MessageBody": "z", "MessageGroupId": "a"})).error(
        400,
        "InvalidParameterValueException",
        "InvalidParameterValue",
        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
    );
    assert_eq!(attribute(&server, &plain, "FifoQueue"), "true");
}

#[test]
fn messages_received_too_often_go_to_the_dead_letter_queue() {
    let server = TestServer::start();
    let dlq = create(&server, "dead", json!({}));
    let arn = attribute(&server, &dlq, "QueueArn");
    let policy = json!({"deadLetterTargetArn": arn, "maxReceiveCount": 2}).to_string();
    let src = create(
        &server,
        "live",
        json!({"VisibilityTimeout": "0", "RedrivePolicy": policy}),
    );
    let stored: Value =
        serde_json::from_str(&attribute(&server, &src, "RedrivePolicy")).expect("json");
    assert_eq!(
        stored,
        json!({"deadLetterTargetArn": arn, "maxReceiveCount": 2})
    );
    sqs(
        &server,
        "SendMessage",
        json!({"QueueUrl": src, "MessageBody": "poison"}),
    )
    .ok();
    for n in 1..=2 {
        let got = receive(&server, &src, json!({}));
        assert_eq!(
            got[0]["Attributes"]["ApproximateReceiveCount"],
            n.to_string()
        );
    }
    // The third receive moves it instead.
    assert!(receive(&server, &src, json!({})).is_empty());
    let dead = receive(&server, &dlq, json!({}));
    assert_eq!(dead[0]["Body"], "poison");
    assert_eq!(
        dead[0]["Attributes"]["DeadLetterQueueSourceArn"],
        attribute(&server, &src, "QueueArn")
    );
    let sources = sqs(
        &server,
        "ListDeadLetterSourceQueues",
        json!({"QueueUrl": dlq}),
    );
    assert_eq!(sources.ok()["queueUrls"], json!([src]));

    // Redrive policies are checked: a missing target, a count out of range, a FIFO mismatch.
    let bad = |p: Value| {
        sqs(
            &server,
            "SetQueueAttributes",
            json!({"QueueUrl": src, "Attributes": {"RedrivePolicy": p.to_string()}}),
        )
    };
    let p = json!({"deadLetterTargetArn": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:missing"), "maxReceiveCount": 2});
    bad(p.clone()).error(400, "InvalidParameterValueException", "InvalidParameterValue", &format!("Value {p} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist."));
    let p = json!({"deadLetterTargetArn": arn, "maxReceiveCount": 0});
    bad(p.clone()).error(400, "InvalidParameterValueException", "InvalidParameterValue", &format!("Value {p} for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive."));
    let fifo = create(&server, "dead.fifo", json!({"FifoQueue": "true"}));
    let p =
        json!({"deadLetterTargetArn": attribute(&server, &fifo, "QueueArn"), "maxReceiveCount": 2});
    bad(p.clone()).error(400, "InvalidParameterValueException", "InvalidParameterValue", &format!("Value {p} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source."));
}

#[test]
fn long_polls_are_woken_by_sends_and_end_on_time() {
    let server = std::sync::Arc::new(TestServer::start());
    let url = create(&server, "poll", json!({}));
    // An empty queue answers after the wait, not before.
    let started = Instant::now();
    assert!(receive(&server, &url, json!({"WaitTimeSeconds": 1})).is_empty());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // A waiting receive gets a message sent meanwhile at once.
    let (s, u) = (std::sync::Arc::clone(&server), url.clone());
    let waiter = std::thread::spawn(move || {
        let started = Instant::now();
        let got = receive(&s, &u, json!({"WaitTimeSeconds": 20}));
        (got, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    sqs(
        &server,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "wake"}),
    )
    .ok();
    let (got, took) = waiter.join().expect("waiter");
    assert_eq!(got[0]["Body"], "wake");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // Many waiting polls at once: the server still answers at once, a batch of five reaches
    // five of them (each message once), and every poll ends when its wait does.
    let started = Instant::now();
    let waiters: Vec<_> = (0..200)
        .map(|_| {
            let (s, u) = (std::sync::Arc::clone(&server), url.clone());
            std::thread::spawn(move || {
                receive(
                    &s,
                    &u,
                    json!({"WaitTimeSeconds": 3, "MaxNumberOfMessages": 1}),
                )
                .len()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    sqs(&server, "GetQueueUrl", json!({"QueueName": "poll"})).ok();
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    let entries: Vec<Value> = (0..5)
        .map(|i| json!({"Id": format!("m{i}"), "MessageBody": format!("m{i}")}))
        .collect();
    sqs(
        &server,
        "SendMessageBatch",
        json!({"QueueUrl": url, "Entries": entries}),
    )
    .ok();
    let total: usize = waiters.into_iter().map(|w| w.join().expect("waiter")).sum();
    assert_eq!(total, 5);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn batches_answer_per_entry_and_refuse_bad_shapes() {
    let server = TestServer::start();
    let url = create(&server, "batch", json!({"MaximumMessageSize": "1024"}));
    let r = sqs(
        &server,
        "SendMessageBatch",
        json!({"QueueUrl": url, "Entries": [
            {"Id": "ok1", "MessageBody": "one"},
            {"Id": "bad", "MessageBody": "bell \u{7}"},
            {"Id": "ok2", "MessageBody": "two", "DelaySeconds": 0},
            {"Id": "big", "MessageBody": "x".repeat(1_025)},
        ]}),
    );
    let r = r.ok();
    let ids = |k: &str| {
        r[k].as_array()
            .expect("list")
            .iter()
            .map(|e| e["Id"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids("Successful"), ["ok1", "ok2"]);
    assert_eq!(ids("Failed"), ["bad", "big"]);
    assert_eq!(r["Failed"][0]["Code"], "InvalidMessageContents");
    assert_eq!(r["Failed"][0]["SenderFault"], true);
    assert_eq!(
        r["Failed"][1]["Message"],
        "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes."
    );
    assert_eq!(r["Successful"][0]["MD5OfMessageBody"], hex_md5(b"one"));
    let got = receive(&server, &url, json!({}));
    assert_eq!(got.len(), 2);

    let e = |entries: Value| {
        sqs(
            &server,
            "SendMessageBatch",
            json!({"QueueUrl": url, "Entries": entries}),
        )
    };
    e(json!([])).error(
        400,
        "EmptyBatchRequest",
        "AWS.SimpleQueueService.EmptyBatchRequest",
        "There should be at least one SendMessageBatchRequestEntry in the request.",
    );
    let many: Vec<Value> = (0..1000)
        .map(|i| json!({"Id": format!("e{i}"), "MessageBody": "x"}))
        .collect();
    e(json!(many)).error(
        400,
        "TooManyEntriesInBatchRequest",
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "Maximum number of entries per request are 10. You have sent 1000.",
    );
    e(json!([{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}])).error(
        400,
        "BatchEntryIdsNotDistinct",
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        "Id a repeated.",
    );
    e(json!([{"Id": "no spaces", "MessageBody": "x"}])).error(400, "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.");
    let big: Vec<Value> = (0..2)
        .map(|i| json!({"Id": format!("b{i}"), "MessageBody": "y".repeat(200_000)}))
        .collect();
    e(json!(big)).error(
        400,
        "BatchRequestTooLong",
        "AWS.SimpleQueueService.BatchRequestTooLong",
        "Batch requests cannot be longer than 262144 bytes. You have sent 400000 bytes.",
    );
    // Invalid entries count toward the batch's size too.
    e(json!([{"Id": "ok", "MessageBody": "x"}, {"Id": "bad", "MessageBody": "\u{7}".repeat(262_144)}])).error(
        400,
        "BatchRequestTooLong",
        "AWS.SimpleQueueService.BatchRequestTooLong",
        "Batch requests cannot be longer than 262144 bytes. You have sent 262145 bytes.",
    );
    // Nothing of the refused batches was stored.
    assert_eq!(attribute(&server, &url, "ApproximateNumberOfMessages"), "0");

    let handles: Vec<Value> = got
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"Id": format!("d{i}"), "ReceiptHandle": m["ReceiptHandle"]}))
        .collect();
    let mut entries = handles.clone();
    entries.push(json!({"Id": "junk", "ReceiptHandle": "AAAA"}));
    let d = sqs(
        &server,
        "DeleteMessageBatch",
        json!({"QueueUrl": url, "Entries": entries}),
    );
    let d = d.ok();
    assert_eq!(d["Successful"].as_array().expect("ok").len(), 2);
    assert_eq!(d["Failed"][0]["Code"], "ReceiptHandleIsInvalid");
    assert_eq!(
        attribute(&server, &url, "ApproximateNumberOfMessagesNotVisible"),
        "0"
    );

    sqs(
        &server,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "v"}),
    )
    .ok();
    let m = receive(&server, &url, json!({}));
    let c = sqs(
        &server,
        "ChangeMessageVisibilityBatch",
        json!({"QueueUrl": url, "Entries": [
            {"Id": "c1", "ReceiptHandle": m[0]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "c2", "ReceiptHandle": m[0]["ReceiptHandle"], "VisibilityTimeout": 99999},
        ]}),
    );
    let c = c.ok();
    assert_eq!(c["Successful"], json!([{"Id": "c1"}]));
    assert_eq!(c["Failed"][0]["Id"], "c2");
    assert_eq!(receive(&server, &url, json!({})).len(), 1);
}

#[test]
fn hostile_input_is_refused_and_stored_data_survives() {
    let server = TestServer::start();
    let url = create(&server, "safe", json!({"MaximumMessageSize": "1024"}));
    sqs(
        &server,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "keep"}),
    )
    .ok();
    sqs(
        &server,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "z".repeat(1025)}),
    )
    .error(
        400,
        "InvalidParameterValueException",
        "InvalidParameterValue",
        "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.",
    );
    sqs(
        &server,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": ""}),
    )
    .error(
        400,
        "MissingRequiredParameterException",
        "MissingParameter",
        "The request must contain the parameter MessageBody.",
    );
    let attrs: serde_json::Map<String, Value> = (0..11)
        .map(|i| {
            (
                format!("a{i}"),
                json!({"DataType": "String", "StringValue": "v"}),
            )
        })
        .collect();
    sqs(
        &server,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "x", "MessageAttributes": attrs}),
    )
    .error(
        400,
        "InvalidParameterValueException",
        "InvalidParameterValue",
        "Number of message attributes [11] exceeds the allowed maximum [10].",
    );
    sqs(&server, "SendMessage", json!({"QueueUrl": url, "MessageBody": "x", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "abc"}}})).error(
        400,
        "InvalidParameterValueException",
        "InvalidParameterValue",
        "Can't cast the value of message (user) attribute 'n' to a number.",
    );
    // Bodies past the limit are refused before they are read into an operation.
    let huge = format!(
        "{{\"QueueUrl\": \"{url}\", \"MessageBody\": \"{}\"}}",
        "q".repeat(3 * 1024 * 1024)
    );
    let r = raw(
        &server,
        "sqs",
        "/",
        &[
            ("x-amz-target", "AmazonSQS.SendMessage"),
            ("content-type", "application/x-amz-json-1.0"),
        ],
        huge.as_bytes(),
    );
    assert_eq!(r.status, 413, "{}", r.text);
    // Unknown operations, malformed JSON, garbage receipt handles of every shape.
    let r = sqs(&server, "Explode", json!({}));
    assert_eq!(
        (r.status, r.query_error.as_deref()),
        (400, Some("InvalidAction;Sender"))
    );
    let r = raw(
        &server,
        "sqs",
        "/",
        &[("x-amz-target", "AmazonSQS.SendMessage")],
        b"{not json",
    );
    assert_eq!(r.status, 400, "{}", r.text);
    for handle in ["", "%%%", &"A".repeat(100_000), "MTox"] {
        let r = sqs(
            &server,
            "DeleteMessage",
            json!({"QueueUrl": url, "ReceiptHandle": handle}),
        );
        assert_eq!(r.status, 400, "{handle:.20}: {}", r.text);
    }
    // The one good message is still there, intact.
    let got = receive(&server, &url, json!({}));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["Body"], "keep");
}

#[test]
fn the_query_protocol_works_on_root_and_on_queue_paths() {
    let server = TestServer::start();
    let created = query(
        &server,
        "/",
        &[
            ("Action", "CreateQueue"),
            ("QueueName", "xml-q"),
            ("Attribute.1.Name", "VisibilityTimeout"),
            ("Attribute.1.Value", "45"),
            ("Tag.1.Key", "t"),
            ("Tag.1.Value", "v"),
        ],
    );
    assert_eq!(created.status, 200, "{}", created.text);
    let url = format!("http://{}/{ACCOUNT}/xml-q", server.addr);
    assert!(
        created.text.contains(&format!(
            "<CreateQueueResult><QueueUrl>{url}</QueueUrl></CreateQueueResult>"
        )),
        "{}",
        created.text
    );
    assert!(created
        .text
        .contains("xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\""));
    let path = format!("/{ACCOUNT}/xml-q");
    // Posted to the queue's path, without a QueueUrl.
    let sent = query(
        &server,
        &path,
        &[
            ("Action", "SendMessage"),
            ("MessageBody", "a & <b>"),
            ("MessageAttribute.1.Name", "k"),
            ("MessageAttribute.1.Value.DataType", "String"),
            ("MessageAttribute.1.Value.StringValue", "v"),
        ],
    );
    assert_eq!(sent.status, 200, "{}", sent.text);
    assert!(
        sent.text.contains(&format!(
            "<MD5OfMessageBody>{}</MD5OfMessageBody>",
            hex_md5(b"a & <b>")
        )),
        "{}",
        sent.text
    );
    let got = query(
        &server,
        &path,
        &[
            ("Action", "ReceiveMessage"),
            ("AttributeName.1", "All"),
            ("MessageAttributeName.1", "All"),
        ],
    );
    assert!(
        got.text.contains("<Body>a &amp; &lt;b&gt;</Body>"),
        "{}",
        got.text
    );
    assert!(got.text.contains("<MessageAttribute><Name>k</Name><Value><DataType>String</DataType><StringValue>v</StringValue></Value></MessageAttribute>"), "{}", got.text);
    assert!(
        got.text.contains(
            "<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>"
        ),
        "{}",
        got.text
    );
    let attrs = query(
        &server,
        "/",
        &[
            ("Action", "GetQueueAttributes"),
            ("QueueUrl", &url),
            ("AttributeName.1", "VisibilityTimeout"),
        ],
    );
    assert!(
        attrs
            .text
            .contains("<Attribute><Name>VisibilityTimeout</Name><Value>45</Value></Attribute>"),
        "{}",
        attrs.text
    );
    let missing = query(
        &server,
        "/",
        &[("Action", "GetQueueUrl"), ("QueueName", "nope")],
    );
    assert_eq!(missing.status, 400);
    assert!(missing.text.contains("<Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>The specified queue does not exist.</Message>"), "{}", missing.text);
    let deleted = query(&server, &path, &[("Action", "DeleteQueue")]);
    assert!(
        deleted.text.contains("<DeleteQueueResponse"),
        "{}",
        deleted.text
    );
    // STS still answers on `/` when the signature is scoped to it.
    let sts = raw(
        &server,
        "sts",
        "/",
        &[("content-type", "application/x-www-form-urlencoded")],
        b"Action=GetCallerIdentity&Version=2011-06-15",
    );
    assert!(
        sts.text.contains("<GetCallerIdentityResult>"),
        "{}",
        sts.text
    );
}

#[test]
fn sqs_requests_are_verified_like_every_other() {
    let server = TestServer::start();
    create(&server, "auth", json!({}));
    // Signed for Lambda: refused in SQS's shape.
    let r = raw(
        &server,
        "lambda",
        "/",
        &[
            ("x-amz-target", "AmazonSQS.ListQueues"),
            ("content-type", "application/x-amz-json-1.0"),
        ],
        b"{}",
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(
        r.query_error.as_deref(),
        Some("SignatureDoesNotMatch;Sender")
    );
    // A target added after signing (not among the signed headers) is refused.
    let url = server.url("/");
    let host = server.addr.to_string();
    let body = b"{}";
    let signed = sign_request_for(
        "sqs",
        &creds(),
        REGION,
        "POST",
        &url,
        &[("host", &host)],
        body,
        SystemTime::now(),
    )
    .expect("sign");
    let mut req = reqwest::blocking::Client::new()
        .post(&url)
        .body(body.to_vec())
        .header("x-amz-target", "AmazonSQS.DeleteQueue");
    for (k, v) in signed {
        req = req.header(k, v);
    }
    let resp = req.send().expect("send");
    assert_eq!(resp.status().as_u16(), 403);
    // Unsigned: refused.
    let resp = reqwest::blocking::Client::new()
        .post(server.url(&format!("/{ACCOUNT}/auth")))
        .body("Action=DeleteQueue")
        .send()
        .expect("send");
    assert_eq!(resp.status().as_u16(), 403);
    let text = resp.text().expect("text");
    assert!(
        text.contains("<Code>MissingAuthenticationToken</Code>"),
        "{text}"
    );
    // The queue is still there.
    let list = sqs(&server, "ListQueues", json!({}));
    assert_eq!(list.ok()["QueueUrls"].as_array().map(Vec::len), Some(1));
}

#[test]
fn queues_and_messages_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_in(dir);
    let url = create(&server, "durable", json!({}));
    sqs(&server, "SendMessageBatch", json!({"QueueUrl": url, "Entries": [{"Id": "a", "MessageBody": "1"}, {"Id": "b", "MessageBody": "2"}]})).ok();
    let dir = std::mem::replace(&mut { server }.dir, tempfile::tempdir().expect("tempdir"));
    let server = TestServer::start_in(dir);
    let url = url.replace(
        &url.split('/').nth(2).unwrap_or("").to_string(),
        &server.addr.to_string(),
    );
    let mut bodies: Vec<String> = receive(&server, &url, json!({}))
        .iter()
        .map(|m| m["Body"].as_str().unwrap_or("").to_string())
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["1", "2"]);
}
