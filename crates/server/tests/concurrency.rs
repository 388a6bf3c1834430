//! Reserved concurrency (Put/Get/DeleteFunctionConcurrency), the account's limit, and writes
//! that race: through the real server and engine (process launcher). Messages are AWS's
//! (spec/lambda-compat.md §5b #33, #41, #42).

mod support;

use std::sync::{Arc, Barrier};

use serde_json::{json, Value};
use support::{zip_of, TestServer, ACCOUNT, REGION};

const SLOW: &[u8] = b"import time\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return 'done'\n";

fn slow_function(s: &TestServer, name: &str) {
    s.create(name, &zip_of(&[("app.py", SLOW)]));
}

fn concurrency(name: &str) -> String {
    format!("/2017-10-31/functions/{name}/concurrency")
}

fn put(s: &TestServer, name: &str, n: Value) -> support::Resp {
    s.call_json(
        "PUT",
        &concurrency(name),
        &json!({ "ReservedConcurrentExecutions": n }),
    )
}

/// `n` invocations of `name` at once, each sleeping `sleep` seconds: their statuses and bodies.
fn at_once(s: &Arc<TestServer>, name: &str, n: usize, sleep: f64) -> Vec<(u16, Value)> {
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (s, barrier, name) = (Arc::clone(s), Arc::clone(&barrier), name.to_string());
            std::thread::spawn(move || {
                barrier.wait();
                let r = s.call_json(
                    "POST",
                    &format!("/2015-03-31/functions/{name}/invocations"),
                    &json!({ "sleep": sleep }),
                );
                (r.status, r.body)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("invoker"))
        .collect()
}

fn throttled(results: &[(u16, Value)], reason: &str) -> usize {
    let mut n = 0;
    for (status, body) in results {
        match status {
            200 => assert_eq!(body, &json!("done")),
            429 => {
                assert_eq!(
                    body,
                    &json!({ "Reason": reason, "Type": "User", "message": "Rate Exceeded." }),
                );
                n += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    n
}

#[test]
fn reservations_round_trip_and_are_reported() {
    let s = TestServer::start();
    slow_function(&s, "f");
    let r = s.call("GET", "/2019-09-30/functions/f/concurrency", b"");
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({})),
        "nothing reserved yet"
    );
    let r = put(&s, "f", json!(10));
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({ "ReservedConcurrentExecutions": 10 }))
    );
    let r = s.call("GET", "/2019-09-30/functions/f/concurrency", b"");
    assert_eq!(r.body, json!({ "ReservedConcurrentExecutions": 10 }));
    let r = s.call("GET", "/2015-03-31/functions/f", b"");
    assert_eq!(
        r.body["Concurrency"],
        json!({ "ReservedConcurrentExecutions": 10 })
    );
    let r = s.call("GET", "/2016-08-19/account-settings", b"");
    assert_eq!(r.body["AccountLimit"]["ConcurrentExecutions"], 1000);
    assert_eq!(
        r.body["AccountLimit"]["UnreservedConcurrentExecutions"],
        990
    );

    // At most 900 of the 1,000 may be reserved: 100 stay for the rest.
    slow_function(&s, "g");
    let r = put(&s, "g", json!(891));
    r.assert_error(
        400,
        "InvalidParameterValueException",
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].",
    );
    assert_eq!(put(&s, "g", json!(890)).status, 200);
    // Raising f's own reservation counts f's old one out, not twice.
    assert_eq!(put(&s, "f", json!(10)).status, 200);
    let r = s.call("GET", "/2016-08-19/account-settings", b"");
    assert_eq!(
        r.body["AccountLimit"]["UnreservedConcurrentExecutions"],
        100
    );

    // Deleting the reservation, and then the function that had one, gives it back.
    let r = s.call("DELETE", &concurrency("g"), b"");
    assert_eq!(r.status, 204);
    let r = s.call("GET", "/2015-03-31/functions/g", b"");
    assert!(r.body.get("Concurrency").is_none(), "{}", r.body);
    assert_eq!(s.call("DELETE", "/2015-03-31/functions/f", b"").status, 204);
    let r = s.call("GET", "/2016-08-19/account-settings", b"");
    assert_eq!(
        r.body["AccountLimit"]["UnreservedConcurrentExecutions"],
        1000
    );
}

#[test]
fn bad_reservations_get_aws_errors_and_change_nothing() {
    let s = TestServer::start();
    slow_function(&s, "f");
    let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:f");
    let qualified = "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.";
    for name in [format!("{arn}:1"), "f:prod".to_string()] {
        put(&s, &name, json!(1)).assert_error(400, "InvalidParameterValueException", qualified);
        s.call(
            "GET",
            &format!("/2019-09-30/functions/{name}/concurrency"),
            b"",
        )
        .assert_error(400, "InvalidParameterValueException", qualified);
    }
    s.call_json("PUT", &concurrency("f"), &json!({})).assert_error(
        400,
        "ValidationException",
        "1 validation error detected: Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null",
    );
    put(&s, "f", json!(-1)).assert_error(
        400,
        "ValidationException",
        "1 validation error detected: Value '-1' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0",
    );
    put(&s, "nope", json!(1)).assert_error(
        404,
        "ResourceNotFoundException",
        &format!("Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:nope"),
    );
    s.call("DELETE", &concurrency("nope"), b"").assert_error(
        404,
        "ResourceNotFoundException",
        &format!("Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:nope"),
    );
    let r = s.call("GET", "/2019-09-30/functions/f/concurrency", b"");
    assert_eq!(r.body, json!({}), "nothing was reserved");
}

#[test]
fn a_reservation_of_two_admits_two_and_zero_admits_none() {
    let s = Arc::new(TestServer::start());
    slow_function(&s, "two");
    assert_eq!(put(&s, "two", json!(2)).status, 200);
    let results = at_once(&s, "two", 5, 1.5);
    assert_eq!(
        throttled(
            &results,
            "ReservedFunctionConcurrentInvocationLimitExceeded"
        ),
        3,
        "{results:?}"
    );
    // Permits come back: two more run.
    let results = at_once(&s, "two", 2, 0.0);
    assert_eq!(throttled(&results, "-"), 0);

    assert_eq!(put(&s, "two", json!(0)).status, 200);
    let results = at_once(&s, "two", 3, 0.0);
    assert_eq!(
        throttled(
            &results,
            "ReservedFunctionConcurrentInvocationLimitExceeded"
        ),
        3
    );
    let r = s.call("DELETE", &concurrency("two"), b"");
    assert_eq!(r.status, 204);
    assert_eq!(throttled(&at_once(&s, "two", 1, 0.0), "-"), 0);
}

#[test]
fn the_account_limit_holds_across_functions_and_leaves_reservations_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Arc::new(TestServer::start_with(dir, |c| {
        c.concurrent_executions = 5;
        c.unreserved_concurrency_minimum = 1;
    }));
    slow_function(&s, "reserved");
    slow_function(&s, "a");
    slow_function(&s, "b");
    assert_eq!(put(&s, "reserved", json!(2)).status, 200);
    // 3 unreserved: a and b together get 3 of 4, and the reserved function its 2 meanwhile.
    let (s1, s2, s3) = (Arc::clone(&s), Arc::clone(&s), Arc::clone(&s));
    let ta = std::thread::spawn(move || at_once(&s1, "a", 2, 1.5));
    let tb = std::thread::spawn(move || at_once(&s2, "b", 2, 1.5));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let tr = std::thread::spawn(move || at_once(&s3, "reserved", 2, 0.5));
    let mut unreserved = ta.join().expect("a");
    unreserved.extend(tb.join().expect("b"));
    assert_eq!(
        throttled(&unreserved, "ConcurrentInvocationLimitExceeded"),
        1,
        "{unreserved:?}"
    );
    assert_eq!(throttled(&tr.join().expect("reserved"), "-"), 0);
    // A reservation above what the account can give is refused with the minimum named.
    put(&s, "a", json!(3)).assert_error(
        400,
        "InvalidParameterValueException",
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [1].",
    );
}

#[test]
fn concurrent_writes_lose_no_update() {
    let s = Arc::new(TestServer::start());
    slow_function(&s, "busy");
    let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:busy");
    let before = s.call("GET", "/2015-03-31/functions/busy", b"");
    let stale = before.body["Configuration"]["RevisionId"]
        .as_str()
        .expect("revision")
        .to_string();
    let barrier = Arc::new(Barrier::new(20));
    let threads: Vec<_> = (0..20)
        .map(|i| {
            let (s, barrier, arn) = (Arc::clone(&s), Arc::clone(&barrier), arn.clone());
            std::thread::spawn(move || {
                barrier.wait();
                match i % 4 {
                    0 | 1 => {
                        let r = s.call_json(
                            "POST",
                            &format!("/2017-03-31/tags/{arn}"),
                            &json!({ "Tags": { format!("k{i}"): format!("v{i}") } }),
                        );
                        ("tag", i, r.status, r.body)
                    }
                    2 => {
                        // Removes a tag no one else writes: the call still races the others.
                        let r = s.call(
                            "DELETE",
                            &format!("/2017-03-31/tags/{arn}?tagKeys=absent"),
                            b"",
                        );
                        ("untag", i, r.status, r.body)
                    }
                    _ => {
                        let r = s.call_json(
                            "PUT",
                            "/2015-03-31/functions/busy/configuration",
                            &json!({ "Description": format!("d{i}") }),
                        );
                        ("update", i, r.status, r.body)
                    }
                }
            })
        })
        .collect();
    let results: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().expect("writer"))
        .collect();
    let mut descriptions = Vec::new();
    for (what, i, status, body) in &results {
        match (*what, *status) {
            ("tag" | "untag", 204) => {}
            ("update", 200) => descriptions.push(format!("d{i}")),
            // AWS compat: an update while another is in progress is refused, in AWS's words.
            ("update", 409) => assert_eq!(
                body["message"],
                format!("The operation cannot be performed at this time. An update is in progress for resource: {arn}"),
            ),
            _ => panic!("{what} {i}: {status} {body}"),
        }
    }
    assert!(!descriptions.is_empty(), "one update at least went through");
    let after = s.wait_active("busy");
    let tags = s.call("GET", &format!("/2017-03-31/tags/{arn}"), b"");
    for (what, i, _, _) in &results {
        if *what == "tag" {
            assert_eq!(
                tags.body["Tags"][format!("k{i}")],
                format!("v{i}"),
                "{}",
                tags.body
            );
        }
    }
    assert!(
        descriptions.contains(&after["Description"].as_str().expect("d").to_string()),
        "the stored description is one that was acknowledged: {after}"
    );
    // A RevisionId from before all that is stale now.
    s.call_json(
        "PUT",
        "/2015-03-31/functions/busy/configuration",
        &json!({ "Description": "late", "RevisionId": stale }),
    )
    .assert_error(
        412,
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
    );
}

#[test]
fn operations_not_served_yet_are_named() {
    let s = TestServer::start();
    slow_function(&s, "f");
    let r = s.call("POST", "/2018-10-31/layers/l/versions", b"{}");
    r.assert_error(
        400,
        "UnknownOperationException",
        "Nimbus does not support the PublishLayerVersion operation yet",
    );
    let r = s.call("GET", "/2099-01-01/whatever", b"");
    r.assert_error(
        400,
        "UnknownOperationException",
        "Nimbus serves no Lambda operation at GET /2099-01-01/whatever",
    );
}

#[test]
fn recursion_config_is_terminate_until_allowed() {
    let s = TestServer::start();
    slow_function(&s, "f");
    let path = "/2024-08-31/functions/f/recursion-config";
    assert_eq!(
        s.call("GET", path, b"").body,
        json!({ "RecursiveLoop": "Terminate" })
    );
    let r = s.call_json("PUT", path, &json!({ "RecursiveLoop": "Allow" }));
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({ "RecursiveLoop": "Allow" }))
    );
    assert_eq!(
        s.call("GET", path, b"").body,
        json!({ "RecursiveLoop": "Allow" })
    );
    s.call_json("PUT", path, &json!({ "RecursiveLoop": "Sometimes" }))
        .assert_error(
            400,
            "ValidationException",
            "1 validation error detected: Value 'Sometimes' at 'recursiveLoop' failed to satisfy constraint: Member must satisfy enum value set: [Allow, Terminate]",
        );
    s.call("GET", "/2024-08-31/functions/nope/recursion-config", b"")
        .assert_error(
            404,
            "ResourceNotFoundException",
            &format!("Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:nope"),
        );
}

/// Invokes `target` with `LogType: Tail`: the status and the log tail.
fn invoke_tail(s: &Arc<TestServer>, target: &str) -> (u16, String) {
    use base64::Engine;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let url = s.url(&format!("/2015-03-31/functions/{path}/invocations?{query}"));
    let host = s.addr.to_string();
    let body = b"{\"sleep\": 0.5}".to_vec();
    let signed = nimbus_server::auth::sign_request(
        &support::creds(),
        REGION,
        "POST",
        &url,
        &[("host", &host), ("x-amz-log-type", "Tail")],
        &body,
        std::time::SystemTime::now(),
    )
    .expect("sign");
    let mut req = reqwest::blocking::Client::new()
        .post(&url)
        .header("x-amz-log-type", "Tail")
        .body(body);
    for (k, v) in signed {
        req = req.header(k, v);
    }
    let resp = req.send().expect("invoke");
    let status = resp.status().as_u16();
    let log = resp
        .headers()
        .get("x-amz-log-result")
        .and_then(|v| v.to_str().ok())
        .map(|l| {
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(l)
                    .expect("b64"),
            )
            .expect("utf8")
        })
        .unwrap_or_default();
    (status, log)
}

#[test]
fn provisioned_concurrency_is_ready_ahead_and_reports_no_init() {
    let s = Arc::new(TestServer::start());
    slow_function(&s, "p");
    assert_eq!(
        s.call_json("POST", "/2015-03-31/functions/p/versions", &json!({}))
            .status,
        201
    );
    let path = "/2019-09-30/functions/p/provisioned-concurrency";
    s.call_json(
        "PUT",
        &format!("{path}?Qualifier=$LATEST"),
        &json!({ "ProvisionedConcurrentExecutions": 3 }),
    )
    .assert_error(
        400,
        "InvalidParameterValueException",
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
    );
    s.call("GET", &format!("{path}?Qualifier=1"), b"")
        .assert_error(
            404,
            "ProvisionedConcurrencyConfigNotFoundException",
            "No Provisioned Concurrency Config found for this function",
        );
    let r = s.call_json(
        "PUT",
        &format!("{path}?Qualifier=1"),
        &json!({ "ProvisionedConcurrentExecutions": 3 }),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["RequestedProvisionedConcurrentExecutions"], 3);
    let mut ready = None;
    for _ in 0..300 {
        let g = s.call("GET", &format!("{path}?Qualifier=1"), b"");
        if g.body["Status"] == "READY" {
            ready = Some(g.body);
            break;
        }
        assert_eq!(g.body["Status"], "IN_PROGRESS", "{}", g.body);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ready = ready.expect("READY within 15 s");
    assert_eq!(ready["AllocatedProvisionedConcurrentExecutions"], 3);
    // Three at once: none initializes (their environments did, ahead).
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || invoke_tail(&s, "p?Qualifier=1"))
        })
        .collect();
    for c in calls {
        let (status, log) = c.join().expect("invoker");
        assert_eq!(status, 200, "{log}");
        assert!(log.contains("REPORT RequestId: "), "{log}");
        assert!(
            !log.contains("Init Duration"),
            "a provisioned environment: {log}"
        );
    }
    let list = s.call("GET", &format!("{path}?List=ALL"), b"");
    assert_eq!(
        list.body["ProvisionedConcurrencyConfigs"][0]["FunctionArn"],
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:p:1")
    );
    assert_eq!(
        s.call("DELETE", &format!("{path}?Qualifier=1"), b"").status,
        204
    );
    s.call("DELETE", &format!("{path}?Qualifier=1"), b"")
        .assert_error(
            404,
            "ProvisionedConcurrencyConfigNotFoundException",
            "No Provisioned Concurrency Config found for this function",
        );
}

/// Provisioned environments whose init fails: the configuration goes FAILED with AWS's
/// StatusReason code (the failure's detail is in the server's log).
#[test]
fn provisioned_concurrency_whose_init_fails_reports_awss_reason() {
    let s = TestServer::start();
    s.create(
        "broken",
        &zip_of(&[(
            "app.py",
            b"raise RuntimeError('no init')\ndef handler(e, c):\n    return 1\n",
        )]),
    );
    let r = s.call_json("POST", "/2015-03-31/functions/broken/versions", &json!({}));
    assert_eq!(r.status, 201, "{}", r.body);
    let path = "/2019-09-30/functions/broken/provisioned-concurrency?Qualifier=1";
    let r = s.call_json(
        "PUT",
        path,
        &json!({ "ProvisionedConcurrentExecutions": 1 }),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let mut last = Value::Null;
    for _ in 0..300 {
        last = s.call("GET", path, b"").body;
        if last["Status"] == "FAILED" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(last["Status"], "FAILED", "{last}");
    assert_eq!(
        last["StatusReason"], "FUNCTION_ERROR_INIT_FAILURE",
        "{last}"
    );
    assert_eq!(
        last["AllocatedProvisionedConcurrentExecutions"], 0,
        "{last}"
    );
}
