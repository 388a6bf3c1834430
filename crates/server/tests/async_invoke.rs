//! Asynchronous invocation through the real server and engine (process launcher): events
//! accepted with 202, dispatched, retried, expired, and their records delivered to destination
//! functions; the event invoke configuration operations and their errors (AWS's words, spec
//! §5b #32, #44); events that outlive a restart.
//!
//! The functions here record what they receive by appending lines to a file of the test's
//! (the process launcher does not isolate them), so a test reads exactly what ran.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{create_body, zip_of, TestServer, ACCOUNT, REGION};

/// Appends each event it gets to `$OUT` as one JSON line.
const RECORDER: &[u8] = b"import json, os\ndef handler(event, context):\n    with open(os.environ['OUT'], 'a') as f:\n        f.write(json.dumps(event) + '\\n')\n    return 'recorded'\n";

/// Records each attempt to `$OUT`, then fails when the event says so.
const WORKER: &[u8] = b"import json, os\ndef handler(event, context):\n    with open(os.environ['OUT'], 'a') as f:\n        f.write(json.dumps({'request_id': context.aws_request_id, 'event': event}) + '\\n')\n    if event.get('fail'):\n        raise ValueError('asked to fail')\n    return {'doubled': event.get('n', 0) * 2}\n";

fn arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

fn server() -> TestServer {
    TestServer::start_with(tempfile::tempdir().expect("tempdir"), |c| {
        c.async_invoke.retry_delay_seconds = 1;
    })
}

/// Creates a function of `code` that writes to `out`.
fn function(s: &TestServer, name: &str, code: &[u8], out: &Path) {
    let mut body = create_body(name, &zip_of(&[("app.py", code)]));
    body["Environment"] = json!({ "Variables": { "OUT": out.to_str().expect("utf-8 path") } });
    let r = s.call_json("POST", "/2015-03-31/functions", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    s.wait_active(name);
}

fn config_path(name: &str) -> String {
    format!("/2019-09-25/functions/{name}/event-invoke-config")
}

/// PutFunctionEventInvokeConfig of `name`, which must succeed.
fn put_config(s: &TestServer, name: &str, body: &Value) -> Value {
    let r = s.call_json("PUT", &config_path(name), body);
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// Invokes `target` with `InvocationType: Event`.
fn invoke_event(s: &TestServer, target: &str, payload: &Value) -> support::Resp {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    s.call_with_headers(
        "POST",
        &format!("/2015-03-31/functions/{path}/invocations{q}"),
        &serde_json::to_vec(payload).expect("json"),
        &[("x-amz-invocation-type", "Event")],
    )
}

/// The lines of `path` once there are `n` of them (or fails after `within`).
fn lines(path: &Path, n: usize, within: Duration) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let got: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        if got.len() >= n {
            return got;
        }
        assert!(
            start.elapsed() < within,
            "{} lines of {n} in {} after {within:?}: {text}",
            got.len(),
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn out(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn an_event_is_accepted_then_run_and_its_record_reaches_the_success_destination() {
    let s = server();
    let files = tempfile::tempdir().expect("tempdir");
    function(&s, "work", WORKER, &out(&files, "work"));
    function(&s, "sink", RECORDER, &out(&files, "sink"));
    put_config(
        &s,
        "work",
        &json!({ "DestinationConfig": { "OnSuccess": { "Destination": arn("sink") } } }),
    );

    let r = invoke_event(&s, "work", &json!({ "n": 21 }));
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.raw.is_empty(), "an accepted event answers no body");
    let request_id = r.header("x-amzn-requestid").expect("request id");

    let ran = lines(&out(&files, "work"), 1, Duration::from_secs(30));
    assert_eq!(
        ran[0]["request_id"], request_id,
        "the 202's id is the invocation's"
    );
    assert_eq!(ran[0]["event"], json!({ "n": 21 }));
    let records = lines(&out(&files, "sink"), 1, Duration::from_secs(30));
    let record = &records[0];
    assert_eq!(record["version"], "1.0");
    assert!(record["timestamp"]
        .as_str()
        .expect("timestamp")
        .ends_with('Z'));
    assert_eq!(
        record["requestContext"],
        json!({
            "requestId": request_id,
            "functionArn": format!("{}:$LATEST", arn("work")),
            "condition": "Success",
            "approximateInvokeCount": 1,
        })
    );
    assert_eq!(record["requestPayload"], json!({ "n": 21 }));
    assert_eq!(
        record["responseContext"],
        json!({ "statusCode": 200, "executedVersion": "$LATEST" })
    );
    assert_eq!(record["responsePayload"], json!({ "doubled": 42 }));
}

#[test]
fn a_failing_event_is_tried_three_times_then_its_record_goes_to_the_failure_destination() {
    let s = server();
    let files = tempfile::tempdir().expect("tempdir");
    function(&s, "flaky", WORKER, &out(&files, "flaky"));
    function(&s, "dead", RECORDER, &out(&files, "dead"));
    put_config(
        &s,
        "flaky",
        &json!({ "DestinationConfig": { "OnFailure": { "Destination": arn("dead") } } }),
    );
    let r = invoke_event(&s, "flaky", &json!({ "fail": true }));
    assert_eq!(r.status, 202, "{}", r.body);
    let request_id = r.header("x-amzn-requestid").expect("request id");

    let records = lines(&out(&files, "dead"), 1, Duration::from_secs(60));
    let attempts = lines(&out(&files, "flaky"), 3, Duration::from_secs(1));
    assert_eq!(
        attempts.len(),
        3,
        "the default is two retries: {attempts:?}"
    );
    assert!(attempts.iter().all(|a| a["request_id"] == request_id));
    let record = &records[0];
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(record["requestContext"]["requestId"], request_id);
    assert_eq!(record["requestPayload"], json!({ "fail": true }));
    assert_eq!(
        record["responseContext"],
        json!({ "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled" })
    );
    assert_eq!(record["responsePayload"]["errorType"], "ValueError");
    assert_eq!(record["responsePayload"]["errorMessage"], "asked to fail");
}

#[test]
fn maximum_retry_attempts_zero_tries_once_and_versions_keep_their_own_settings() {
    let s = server();
    let files = tempfile::tempdir().expect("tempdir");
    function(&s, "once", WORKER, &out(&files, "once"));
    function(&s, "dead", RECORDER, &out(&files, "dead"));
    let r = s.call_json("POST", "/2015-03-31/functions/once/versions", &json!({}));
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.call_json(
        "PUT",
        &format!("{}?Qualifier=1", config_path("once")),
        &json!({
            "MaximumRetryAttempts": 0,
            "DestinationConfig": { "OnFailure": { "Destination": arn("dead") } },
        }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["FunctionArn"], format!("{}:1", arn("once")));

    let r = invoke_event(&s, "once:1", &json!({ "fail": true }));
    assert_eq!(r.status, 202, "{}", r.body);
    let records = lines(&out(&files, "dead"), 1, Duration::from_secs(30));
    assert_eq!(records[0]["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(
        records[0]["requestContext"]["functionArn"],
        format!("{}:1", arn("once"))
    );
    assert_eq!(records[0]["responseContext"]["executedVersion"], "1");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lines(&out(&files, "once"), 1, Duration::ZERO).len(), 1);
}

#[test]
fn an_event_held_by_zero_reserved_concurrency_waits_then_expires_with_event_age_exceeded() {
    let s = server();
    let files = tempfile::tempdir().expect("tempdir");
    function(&s, "held", WORKER, &out(&files, "held"));
    function(&s, "dead", RECORDER, &out(&files, "dead"));
    let r = s.call_json(
        "PUT",
        "/2017-10-31/functions/held/concurrency",
        &json!({ "ReservedConcurrentExecutions": 0 }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    put_config(
        &s,
        "held",
        &json!({
            "MaximumEventAgeInSeconds": 60,
            "DestinationConfig": { "OnFailure": { "Destination": arn("dead") } },
        }),
    );
    let accepted = Instant::now();
    let r = invoke_event(&s, "held", &json!({ "n": 1 }));
    assert_eq!(
        r.status, 202,
        "throttled functions still accept events: {}",
        r.body
    );

    let records = lines(&out(&files, "dead"), 1, Duration::from_secs(120));
    assert!(
        accepted.elapsed() >= Duration::from_secs(59),
        "kept queued until its age ran out"
    );
    let record = &records[0];
    assert_eq!(record["requestContext"]["condition"], "EventAgeExceeded");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 0);
    assert_eq!(record["requestPayload"], json!({ "n": 1 }));
    assert!(record.get("responseContext").is_none(), "{record}");
    assert!(
        !out(&files, "held").exists(),
        "the function never ran while its concurrency was 0"
    );
}

#[test]
fn events_are_durable_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("tempdir");
    let quick = |c: &mut nimbus_server::Config| c.async_invoke.retry_delay_seconds = 1;
    let s = TestServer::start_with(dir, quick);
    function(&s, "later", RECORDER, &out(&files, "later"));
    let r = s.call_json(
        "PUT",
        "/2017-10-31/functions/later/concurrency",
        &json!({ "ReservedConcurrentExecutions": 0 }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    for n in 0..20 {
        assert_eq!(invoke_event(&s, "later", &json!({ "n": n })).status, 202);
    }
    // The server stops (dropped) and its directory moves on to the next one.
    let dir = std::mem::replace(&mut { s }.dir, tempfile::tempdir().expect("tempdir"));

    let s = TestServer::start_with(dir, quick);
    let r = s.call("DELETE", "/2017-10-31/functions/later/concurrency", b"");
    assert_eq!(r.status, 204, "{}", r.body);
    // Throttled events back off (1 s, 2 s, ...): they come within the backoff's reach.
    let got = lines(&out(&files, "later"), 20, Duration::from_secs(60));
    let mut ns: Vec<i64> = got.iter().map(|e| e["n"].as_i64().expect("n")).collect();
    ns.sort_unstable();
    ns.dedup();
    assert_eq!(ns, (0..20).collect::<Vec<_>>());
}

#[test]
fn invoke_async_is_accepted_like_an_event() {
    let s = server();
    let files = tempfile::tempdir().expect("tempdir");
    function(&s, "old", RECORDER, &out(&files, "old"));
    let r = s.call(
        "POST",
        "/2014-11-13/functions/old/invoke-async",
        br#"{"legacy": true}"#,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body, json!({ "Status": 202 }));
    let got = lines(&out(&files, "old"), 1, Duration::from_secs(30));
    assert_eq!(got[0], json!({ "legacy": true }));
}

#[test]
fn events_are_refused_as_lambda_refuses_them() {
    let s = server();
    let files = tempfile::tempdir().expect("tempdir");
    function(&s, "f", RECORDER, &out(&files, "f"));
    let big = json!({ "pad": "x".repeat(1_048_577) });
    let n = serde_json::to_vec(&big).expect("json").len();
    invoke_event(&s, "f", &big).assert_error(
        413,
        "RequestEntityTooLargeException",
        &format!(
            "{n} byte payload is too large for the Event invocation type (limit 1048576 bytes)"
        ),
    );
    let r = s.call_with_headers(
        "POST",
        "/2015-03-31/functions/f/invocations",
        b"{not json",
        &[("x-amz-invocation-type", "Event")],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["Type"], "User");
    assert_eq!(r.error_type(), "InvalidRequestContentException");
    invoke_event(&s, "nope", &json!({})).assert_error(
        404,
        "ResourceNotFoundException",
        &format!("Function not found: {}", arn("nope")),
    );
    invoke_event(&s, "f:7", &json!({})).assert_error(
        404,
        "ResourceNotFoundException",
        &format!("Function not found: {}:7", arn("f")),
    );
    // Nothing refused was queued, nothing ran.
    std::thread::sleep(Duration::from_millis(500));
    assert!(!out(&files, "f").exists());
}

#[test]
fn event_invoke_configs_are_put_updated_listed_and_deleted() {
    let s = server();
    let files = tempfile::tempdir().expect("tempdir");
    function(&s, "f", RECORDER, &out(&files, "f"));
    function(&s, "g", RECORDER, &out(&files, "g"));
    let r = s.call("POST", "/2015-03-31/functions/f/versions", b"{}");
    assert_eq!(r.status, 201, "{}", r.body);

    let put = put_config(
        &s,
        "f",
        &json!({ "MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 3600 }),
    );
    assert_eq!(put["FunctionArn"], format!("{}:$LATEST", arn("f")));
    assert_eq!(put["MaximumRetryAttempts"], 1);
    assert_eq!(put["MaximumEventAgeInSeconds"], 3600);
    assert_eq!(
        put["DestinationConfig"],
        json!({ "OnSuccess": {}, "OnFailure": {} })
    );
    assert!(put["LastModified"].as_f64().expect("epoch seconds") > 1.7e9);

    // Update merges; Put replaces.
    let r = s.call_json(
        "POST",
        &config_path("f"),
        &json!({ "DestinationConfig": { "OnFailure": { "Destination": arn("g") } } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["MaximumRetryAttempts"], 1);
    assert_eq!(
        r.body["DestinationConfig"]["OnFailure"]["Destination"],
        arn("g")
    );
    let got = s.call("GET", &config_path("f"), b"");
    assert_eq!(got.status, 200);
    assert_eq!(got.body, r.body);
    let replaced = put_config(&s, "f", &json!({ "MaximumRetryAttempts": 0 }));
    assert!(
        replaced.get("MaximumEventAgeInSeconds").is_none(),
        "{replaced}"
    );
    assert_eq!(
        replaced["DestinationConfig"],
        json!({ "OnSuccess": {}, "OnFailure": {} })
    );

    let r = s.call_json(
        "PUT",
        &format!("{}?Qualifier=1", config_path("f")),
        &json!({ "MaximumRetryAttempts": 2 }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let list = s.call("GET", &format!("{}/list?MaxItems=1", config_path("f")), b"");
    assert_eq!(list.status, 200, "{}", list.body);
    let first = list.body["FunctionEventInvokeConfigs"]
        .as_array()
        .expect("list")
        .clone();
    assert_eq!(first.len(), 1);
    let marker = list.body["NextMarker"].as_str().expect("a next page");
    let rest = s.call(
        "GET",
        &format!("{}/list?Marker={marker}", config_path("f")),
        b"",
    );
    let second = rest.body["FunctionEventInvokeConfigs"]
        .as_array()
        .expect("list")
        .clone();
    assert!(rest.body.get("NextMarker").is_none());
    let arns: Vec<&str> = first
        .iter()
        .chain(&second)
        .map(|c| c["FunctionArn"].as_str().expect("arn"))
        .collect();
    assert_eq!(
        arns,
        [format!("{}:$LATEST", arn("f")), format!("{}:1", arn("f"))]
    );

    let r = s.call("DELETE", &format!("{}?Qualifier=1", config_path("f")), b"");
    assert_eq!(r.status, 204, "{}", r.body);
    s.call("GET", &format!("{}?Qualifier=1", config_path("f")), b"")
        .assert_error(
            404,
            "ResourceNotFoundException",
            &format!(
                "The function {}:1 doesn't have an EventInvokeConfig",
                arn("f")
            ),
        );
    s.call("DELETE", &format!("{}?Qualifier=1", config_path("f")), b"")
        .assert_error(
            404,
            "ResourceNotFoundException",
            &format!(
                "The function {}:1 doesn't have an EventInvokeConfig",
                arn("f")
            ),
        );
    // Gone with the function.
    assert_eq!(s.call("DELETE", "/2015-03-31/functions/f", b"").status, 204);
    function(&s, "f", RECORDER, &out(&files, "f"));
    assert_eq!(s.call("GET", &config_path("f"), b"").status, 404);
}

#[test]
fn event_invoke_configs_are_checked_with_lambdas_messages() {
    let s = server();
    let files = tempfile::tempdir().expect("tempdir");
    function(&s, "f", RECORDER, &out(&files, "f"));
    let put = |body: Value| s.call_json("PUT", &config_path("f"), &body);
    put(json!({})).assert_error(
        400,
        "InvalidParameterValueException",
        "You must specify at least one of error handling or destination setting.",
    );
    put(json!({ "MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 59 })).assert_error(
        400,
        "ValidationException",
        "2 validation errors detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2; Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60",
    );
    put(json!({ "DestinationConfig": { "OnSuccess": { "Destination": arn("f") } } })).assert_error(
        400,
        "InvalidParameterValueException",
        "You can't specify the function as a destination for itself.",
    );
    put(json!({ "DestinationConfig": { "OnFailure": { "Destination": arn("missing") } } }))
        .assert_error(
            400,
            "InvalidParameterValueException",
            &format!("The destination ARN {} is invalid.", arn("missing")),
        );
    let sns = format!("arn:aws:sns:{REGION}:{ACCOUNT}:topic");
    let r = put(json!({ "DestinationConfig": { "OnFailure": { "Destination": sns } } }));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r
        .message()
        .starts_with(&format!("The destination ARN {sns} is invalid.")));
    // "g" exists here: only its account or region makes these foreign.
    function(&s, "g", RECORDER, &out(&files, "g"));
    for foreign in [
        "arn:aws:lambda:us-east-1:111111111111:function:g".to_string(),
        format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:g"),
        "arn:aws:sqs:us-east-1:111111111111:q".to_string(),
    ] {
        put(json!({ "DestinationConfig": { "OnSuccess": { "Destination": foreign } } }))
            .assert_error(
                400,
                "InvalidParameterValueException",
                &format!("The destination ARN {foreign} is invalid."),
            );
    }
    let r = put(json!({ "DestinationConfig": { "OnFailure": { "Destination": "nope" } } }));
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), "ValidationException");
    s.call_json(
        "PUT",
        &config_path("ghost"),
        &json!({ "MaximumRetryAttempts": 1 }),
    )
    .assert_error(
        404,
        "ResourceNotFoundException",
        "The function doesn't exist.",
    );
    s.call_json(
        "PUT",
        &format!("{}?Qualifier=9", config_path("f")),
        &json!({ "MaximumRetryAttempts": 1 }),
    )
    .assert_error(
        404,
        "ResourceNotFoundException",
        "The function doesn't exist.",
    );
    s.call_json(
        "POST",
        &config_path("f"),
        &json!({ "MaximumRetryAttempts": 1 }),
    )
    .assert_error(
        404,
        "ResourceNotFoundException",
        &format!(
            "The function {}:$LATEST doesn't have an EventInvokeConfig",
            arn("f")
        ),
    );
    // Nothing refused was stored.
    assert_eq!(s.call("GET", &config_path("f"), b"").status, 404);
}

#[test]
fn a_loop_of_destinations_is_stopped() {
    let s = server();
    let files = tempfile::tempdir().expect("tempdir");
    let both = out(&files, "both");
    function(&s, "ping", RECORDER, &both);
    function(&s, "pong", RECORDER, &both);
    for (from, to) in [("ping", "pong"), ("pong", "ping")] {
        put_config(
            &s,
            from,
            &json!({ "DestinationConfig": { "OnSuccess": { "Destination": arn(to) } } }),
        );
    }
    assert_eq!(invoke_event(&s, "ping", &json!({ "start": 1 })).status, 202);
    // The caller's event and 16 records after it; then the loop is cut.
    let got = lines(&both, 17, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    let after = lines(&both, 0, Duration::ZERO);
    assert_eq!(after.len(), 17, "the loop went on: {}", got.len());
    let r = s.call("GET", "/_nimbus/async", b"");
    assert_eq!(r.body, json!({ "PendingEvents": 0 }));
}

#[test]
fn a_full_queue_refuses_events_with_429() {
    let s = TestServer::start_with(tempfile::tempdir().expect("tempdir"), |c| {
        c.async_invoke.max_pending_events = 3;
    });
    let files = tempfile::tempdir().expect("tempdir");
    function(&s, "held", RECORDER, &out(&files, "held"));
    let r = s.call_json(
        "PUT",
        "/2017-10-31/functions/held/concurrency",
        &json!({ "ReservedConcurrentExecutions": 0 }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    for _ in 0..3 {
        assert_eq!(invoke_event(&s, "held", &json!({})).status, 202);
    }
    invoke_event(&s, "held", &json!({})).assert_error(
        429,
        "TooManyRequestsException",
        "Nimbus's queue of asynchronous invocations is full (3 events, async.max_pending_events): try again later.",
    );
    let r = s.call("GET", "/_nimbus/async", b"");
    assert_eq!(r.body, json!({ "PendingEvents": 3 }));
}
