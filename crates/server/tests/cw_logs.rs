//! The CloudWatch Logs API against the real server: a function's log group and streams as
//! Lambda names them, GetLogEvents' tokens in both directions, FilterLogEvents with term and
//! JSON patterns and paging, and AWS's errors.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{zip_of, Resp, TestServer};

/// Prints what the event asks, one line each (a JSON line among them).
const LOGGER: &[u8] = b"import json\ndef handler(event, context):\n    for line in event['lines']:\n        print(line)\n    print(json.dumps({'level': event.get('level', 'INFO'), 'n': len(event['lines'])}))\n    return 'ok'\n";

fn logs(s: &TestServer, op: &str, body: &Value) -> Resp {
    s.call_json_target("logs", &format!("Logs_20140328.{op}"), body)
}

/// FilterLogEvents until `want` events match (the log writer batches).
fn filter_until(s: &TestServer, body: &Value, want: usize) -> Value {
    let start = Instant::now();
    loop {
        let r = logs(s, "FilterLogEvents", body);
        // The group exists once the writer has stored its first events.
        let not_yet = r.status == 400 && r.body["__type"] == "ResourceNotFoundException";
        assert!(r.status == 200 || not_yet, "{}", r.body);
        if r.body["events"].as_array().map_or(0, Vec::len) >= want {
            return r.body;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{}", r.body);
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn messages(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            e["message"]
                .as_str()
                .expect("message")
                .trim_end()
                .to_string()
        })
        .collect()
}

#[test]
fn a_functions_logs_read_through_the_logs_api() {
    let s = TestServer::start();
    s.create("talker", &zip_of(&[("app.py", LOGGER)]));
    let lines: Vec<String> = (0..30)
        .map(|i| format!("line {i} ERROR={}", i % 3 == 0))
        .collect();
    let r = s.call_json(
        "POST",
        "/2015-03-31/functions/talker/invocations",
        &json!({ "lines": lines, "level": "ERROR" }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let group = "/aws/lambda/talker";
    // INIT_START, START, 30 lines, the JSON line, END, REPORT.
    let all = filter_until(&s, &json!({ "logGroupName": group }), 35);
    let got = messages(&all);
    assert!(got[0].starts_with("INIT_START "), "{got:?}");
    assert!(got[1].starts_with("START RequestId: "), "{got:?}");
    assert!(
        got.last().expect("last").starts_with("REPORT RequestId: "),
        "{got:?}"
    );

    // Groups and streams.
    let r = logs(
        &s,
        "DescribeLogGroups",
        &json!({ "logGroupNamePrefix": "/aws/lambda/" }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let g = &r.body["logGroups"][0];
    assert_eq!(g["logGroupName"], group);
    assert_eq!(
        g["arn"],
        format!("arn:aws:logs:us-east-1:000000000000:log-group:{group}:*")
    );
    assert!(g["retentionInDays"].as_u64().is_some(), "{g}");
    let r = logs(
        &s,
        "DescribeLogStreams",
        &json!({ "logGroupName": group, "orderBy": "LastEventTime", "descending": true }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let stream = r.body["logStreams"][0]["logStreamName"]
        .as_str()
        .expect("stream")
        .to_string();
    // Lambda's stream name: YYYY/MM/DD/[$LATEST]<32 hex>.
    assert!(
        stream.contains("/[$LATEST]") && stream.len() == 11 + 9 + 32,
        "{stream}"
    );

    // GetLogEvents: the newest page by default, then back, then forward to the end.
    let r = logs(
        &s,
        "GetLogEvents",
        &json!({ "logGroupName": group, "logStreamName": stream, "limit": 10 }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(messages(&r.body)[9].starts_with("REPORT"), "{}", r.body);
    let back = r.body["nextBackwardToken"].as_str().expect("b").to_string();
    let r = logs(
        &s,
        "GetLogEvents",
        &json!({ "logGroupName": group, "logStreamName": stream, "limit": 10, "nextToken": back }),
    );
    assert_eq!(messages(&r.body).len(), 10, "{}", r.body);
    let r = logs(
        &s,
        "GetLogEvents",
        &json!({ "logGroupName": group, "logStreamName": stream, "startFromHead": true, "limit": 40 }),
    );
    assert_eq!(messages(&r.body), got);
    let fwd = r.body["nextForwardToken"].as_str().expect("f").to_string();
    let r = logs(
        &s,
        "GetLogEvents",
        &json!({ "logGroupName": group, "logStreamName": stream, "nextToken": fwd }),
    );
    assert!(messages(&r.body).is_empty(), "{}", r.body);
    // At the end the same token comes back: clients stop on it.
    assert_eq!(r.body["nextForwardToken"], fwd);

    // Patterns: terms, alternatives, exclusions, JSON selectors.
    let m = messages(&filter_until(
        &s,
        &json!({ "logGroupName": group, "filterPattern": "\"ERROR=true\"" }),
        10,
    ));
    assert_eq!(m.len(), 10, "{m:?}");
    let m = messages(&filter_until(
        &s,
        &json!({ "logGroupName": group, "filterPattern": "?START ?END -INIT_START" }),
        2,
    ));
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(
        m[0].starts_with("START") && m[1].starts_with("END"),
        "{m:?}"
    );
    let m = messages(&filter_until(
        &s,
        &json!({ "logGroupName": group, "filterPattern": "{ $.level = \"ERROR\" && $.n >= 30 }" }),
        1,
    ));
    assert_eq!(m, [r#"{"level": "ERROR", "n": 30}"#]);
    // Paging: pages of 7 until the token runs out, every event once.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({ "logGroupName": group, "limit": 7 });
        if let Some(t) = &token {
            body["nextToken"] = json!(t);
        }
        let r = logs(&s, "FilterLogEvents", &body);
        seen.extend(messages(&r.body));
        match r.body["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, got);

    // AWS's errors.
    let r = logs(
        &s,
        "FilterLogEvents",
        &json!({ "logGroupName": "/aws/lambda/nope" }),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.body["__type"], "ResourceNotFoundException");
    assert_eq!(r.body["message"], "The specified log group does not exist.");
    let r = logs(
        &s,
        "GetLogEvents",
        &json!({ "logGroupName": group, "logStreamName": "nope" }),
    );
    assert_eq!(
        r.body["message"],
        "The specified log stream does not exist."
    );
    let r = logs(
        &s,
        "DescribeLogStreams",
        &json!({ "logGroupName": group, "orderBy": "LastEventTime", "logStreamNamePrefix": "2" }),
    );
    assert_eq!(r.body["__type"], "InvalidParameterException", "{}", r.body);
    let many: Vec<String> = (0..101).map(|i| format!("s{i}")).collect();
    let r = logs(
        &s,
        "FilterLogEvents",
        &json!({ "logGroupName": group, "logStreamNames": many }),
    );
    assert_eq!(r.body["__type"], "InvalidParameterException", "{}", r.body);
    let r = logs(
        &s,
        "FilterLogEvents",
        &json!({ "logGroupName": group, "filterPattern": "{ $.level = }" }),
    );
    assert_eq!(r.body["__type"], "InvalidParameterException", "{}", r.body);
}

#[test]
fn log_groups_are_made_given_a_retention_and_deleted() {
    let s = TestServer::start();
    let r = logs(
        &s,
        "CreateLogGroup",
        &json!({ "logGroupName": "/app/jobs" }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = logs(
        &s,
        "CreateLogGroup",
        &json!({ "logGroupName": "/app/jobs" }),
    );
    assert_eq!(
        r.body["__type"], "ResourceAlreadyExistsException",
        "{}",
        r.body
    );
    assert_eq!(r.body["message"], "The specified log group already exists");
    let r = logs(&s, "CreateLogGroup", &json!({ "logGroupName": "bad name" }));
    assert_eq!(r.body["__type"], "InvalidParameterException", "{}", r.body);
    let r = logs(
        &s,
        "PutRetentionPolicy",
        &json!({ "logGroupName": "/app/jobs", "retentionInDays": 2 }),
    );
    assert_eq!(r.body["__type"], "InvalidParameterException", "{}", r.body);
    assert!(r.message().contains("[1, 3, 5, 7, 14"), "{}", r.body);
    let r = logs(
        &s,
        "PutRetentionPolicy",
        &json!({ "logGroupName": "/app/jobs", "retentionInDays": 14 }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = logs(
        &s,
        "DescribeLogGroups",
        &json!({ "logGroupNamePrefix": "/app/" }),
    );
    assert_eq!(
        r.body["logGroups"][0]["logGroupName"], "/app/jobs",
        "{}",
        r.body
    );
    assert_eq!(r.body["logGroups"][0]["retentionInDays"], 14, "{}", r.body);
    let r = logs(
        &s,
        "DeleteRetentionPolicy",
        &json!({ "logGroupName": "/app/jobs" }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = logs(
        &s,
        "DescribeLogGroups",
        &json!({ "logGroupNamePrefix": "/app/" }),
    );
    // Without its own, the server's retention.
    assert_eq!(r.body["logGroups"][0]["retentionInDays"], 30, "{}", r.body);
    let r = logs(
        &s,
        "PutRetentionPolicy",
        &json!({ "logGroupName": "/app/none", "retentionInDays": 14 }),
    );
    assert_eq!(r.body["__type"], "ResourceNotFoundException", "{}", r.body);
    assert_eq!(
        logs(
            &s,
            "DeleteLogGroup",
            &json!({ "logGroupName": "/app/jobs" })
        )
        .status,
        200
    );
    let r = logs(
        &s,
        "DeleteLogGroup",
        &json!({ "logGroupName": "/app/jobs" }),
    );
    assert_eq!(r.body["__type"], "ResourceNotFoundException", "{}", r.body);
}

/// A Logs API error: 400, `__type` and `message` in the body.
#[track_caller]
fn refused(r: &Resp, kind: &str, message: &str) {
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["__type"], kind, "{}", r.body);
    assert_eq!(r.body["message"], message, "{}", r.body);
}

#[test]
fn put_log_events_writes_streams_of_ones_own() {
    let s = TestServer::start();
    let group = "/app/mine";
    let stream = |name: &str| json!({ "logGroupName": group, "logStreamName": name });
    let r = logs(&s, "CreateLogStream", &stream("s1"));
    refused(
        &r,
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    );
    assert_eq!(
        logs(&s, "CreateLogGroup", &json!({ "logGroupName": group })).status,
        200
    );
    let r = logs(&s, "CreateLogStream", &stream("s1"));
    assert_eq!(r.status, 200, "{}", r.body);
    let r = logs(&s, "CreateLogStream", &stream("s1"));
    refused(
        &r,
        "ResourceAlreadyExistsException",
        "The specified log stream already exists",
    );
    let r = logs(&s, "CreateLogStream", &stream("a:b"));
    assert_eq!(r.body["__type"], "InvalidParameterException", "{}", r.body);
    // A new stream has no event times.
    let r = logs(&s, "DescribeLogStreams", &json!({ "logGroupName": group }));
    assert_eq!(r.status, 200, "{}", r.body);
    let first = &r.body["logStreams"][0];
    assert_eq!(first["logStreamName"], "s1");
    assert!(first.get("firstEventTimestamp").is_none(), "{first}");

    let put = |name: &str, events: Value| {
        let mut body = stream(name);
        body["logEvents"] = events;
        logs(&s, "PutLogEvents", &body)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let r = put("nope", json!([{ "timestamp": now, "message": "x" }]));
    refused(
        &r,
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
    );
    let r = put(
        "s1",
        json!([{ "timestamp": now, "message": "b" }, { "timestamp": now - 1, "message": "a" }]),
    );
    refused(
        &r,
        "InvalidParameterException",
        "Log events in a single PutLogEvents request must be in chronological order.",
    );
    let big = "x".repeat(600_000);
    let r = put(
        "s1",
        json!([{ "timestamp": now, "message": big }, { "timestamp": now, "message": big }]),
    );
    refused(
        &r,
        "InvalidParameterException",
        "Upload too large: 1200052 bytes exceeds limit of 1048576",
    );
    assert_eq!(
        put("s1", json!([])).body["__type"],
        "InvalidParameterException"
    );

    // Too old and too new events are refused by index; the rest are stored at once.
    let r = put(
        "s1",
        json!([
            { "timestamp": now - 15 * 86_400_000i64, "message": "ancient" },
            { "timestamp": now - 1000, "message": "first line" },
            { "timestamp": now, "message": "second line" },
            { "timestamp": now + 3 * 3_600_000i64, "message": "future" },
        ]),
    );
    assert_eq!(r.status, 400, "a batch spans at most 24 hours: {}", r.body);
    let r = put(
        "s1",
        json!([
            { "timestamp": now - 1000, "message": "first line" },
            { "timestamp": now, "message": "second line" },
            { "timestamp": now + 3 * 3_600_000i64, "message": "future" },
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["rejectedLogEventsInfo"],
        json!({ "tooNewLogEventStartIndex": 2 })
    );
    assert!(r.body["nextSequenceToken"].is_string());
    let r = logs(
        &s,
        "GetLogEvents",
        &json!({ "logGroupName": group, "logStreamName": "s1", "startFromHead": true }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let got: Vec<&str> = r.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(got, ["first line", "second line"]);
    let r = logs(&s, "DescribeLogStreams", &json!({ "logGroupName": group }));
    assert_eq!(r.body["logStreams"][0]["firstEventTimestamp"], now - 1000);
    assert_eq!(r.body["logStreams"][0]["lastEventTimestamp"], now);

    assert_eq!(logs(&s, "DeleteLogStream", &stream("s1")).status, 200);
    let r = logs(&s, "DeleteLogStream", &stream("s1"));
    refused(
        &r,
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
    );
    let r = logs(
        &s,
        "GetLogEvents",
        &json!({ "logGroupName": group, "logStreamName": "s1" }),
    );
    assert_eq!(r.body["__type"], "ResourceNotFoundException");
}

/// AWS compat (recorded by LocalStack's AWS-validated `test_multi_line_prints`): in the text
/// format every message keeps its newline, the platform's lines too, an empty line is no event,
/// and a carriage return stays inside its line.
#[test]
fn messages_keep_their_newline_and_empty_lines_make_no_event() {
    let s = TestServer::start();
    s.create(
        "lines",
        &zip_of(&[(
            "app.py",
            b"def handler(event, context):\n    print(event['body'])\n    return 1\n",
        )]),
    );
    let r = s.call_json(
        "POST",
        "/2015-03-31/functions/lines/invocations",
        &json!({ "body": "\nmulti\nline\n\nanother\rline\n" }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // INIT_START, START, three lines, END, REPORT.
    let all = filter_until(&s, &json!({ "logGroupName": "/aws/lambda/lines" }), 7);
    let got: Vec<&str> = all["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["message"].as_str().expect("message"))
        .collect();
    assert_eq!(got.len(), 7, "{got:?}");
    assert_eq!(
        &got[2..5],
        ["multi\n", "line\n", "another\rline\n"],
        "{got:?}"
    );
    assert!(got[1].starts_with("START RequestId: ") && got[1].ends_with(" Version: $LATEST\n"));
    assert!(got[5].starts_with("END RequestId: ") && got[5].ends_with('\n'));
    assert!(
        got[6].starts_with("REPORT RequestId: ") && got[6].ends_with("\t\n"),
        "{got:?}"
    );
}
