//! `GET /_nimbus/costs` against the real server: what it answers a hostile or careless client,
//! and its groupings (the ledger's exactness across kill -9 is `crates/cli/tests/cost.rs`).

mod support;

use serde_json::json;
use support::{zip_of, TestServer};

#[test]
fn the_cost_report_refuses_bad_queries_and_strangers() {
    let s = TestServer::start();
    for query in ["by=bogus", "since=yesterday", "since=1e3", "by="] {
        let r = s.call("GET", &format!("/_nimbus/costs?{query}"), b"");
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert_eq!(r.error_type(), "InvalidParameterValueException", "{query}");
    }
    let (status, _) = s.unsigned_get("/_nimbus/costs");
    assert_eq!(status, 403, "an unsigned request");
    // Far past or future bounds are only empty answers.
    for since in [i64::MIN, -1, 0, i64::MAX] {
        let r = s.call("GET", &format!("/_nimbus/costs?since={since}"), b"");
        assert_eq!(r.status, 200, "{since}: {}", r.body);
        assert_eq!(r.body["Total"]["Requests"], 0);
    }
}

#[test]
fn versions_are_billed_apart_and_a_forged_report_line_bills_nothing() {
    let s = TestServer::start();
    // The function prints a REPORT line of its own: the ledger never reads logs.
    let app: &[u8] = b"def handler(e, c):\n    print('REPORT RequestId: x\\tDuration: 1.00 ms\\tBilled Duration: 999999 ms\\tMemory Size: 10240 MB\\tMax Memory Used: 1 MB\\t')\n    return 1\n";
    s.create("billed", &zip_of(&[("app.py", app)]));
    let invoke = |q: &str| {
        let r = s.call_json(
            "POST",
            &format!("/2015-03-31/functions/billed/invocations{q}"),
            &json!({}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    };
    invoke("");
    let r = s.call_json("POST", "/2015-03-31/functions/billed/versions", &json!({}));
    assert_eq!(r.status, 201, "{}", r.body);
    invoke("?Qualifier=1");
    invoke("?Qualifier=1");
    let r = s.call("GET", "/_nimbus/costs?by=version", b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let groups = r.body["Groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 2, "{}", r.body);
    assert_eq!(groups[0]["Version"], "$LATEST");
    assert_eq!(groups[0]["Requests"], 1);
    assert_eq!(groups[1]["Version"], "1");
    assert_eq!(groups[1]["Requests"], 2);
    let mb_ms = r.body["Total"]["BilledMbMilliseconds"]
        .as_u64()
        .expect("mb ms");
    // Three invocations of 128 MB, two of them cold starts: seconds, not 999,999 ms at 10 GB.
    assert!(mb_ms.is_multiple_of(128) && mb_ms < 128 * 10_000, "{mb_ms}");
    assert_eq!(r.body["Currency"], "USD");
    assert_eq!(r.body["Unrecorded"], 0);
}
