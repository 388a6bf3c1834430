//! EventBridge Scheduler against the real server: the API's shapes and errors, and schedules
//! firing by a manual clock (time moved on by the test, never slept through): a rate schedule
//! once per period across a restart, a cron schedule in a time zone across a DST change, and a
//! one-time schedule deleted once it has fired.
//!
//! The target functions record what they receive by appending lines to a file of the test's.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nimbus_server::ScheduleClock;
use serde_json::{json, Value};
use support::{create_body, zip_of, TestServer, ACCOUNT, REGION};

/// Appends each event it gets to `$OUT` as one JSON line.
const RECORDER: &[u8] = b"import json, os\ndef handler(event, context):\n    with open(os.environ['OUT'], 'a') as f:\n        f.write(json.dumps(event) + '\\n')\n    return 'recorded'\n";

const MINUTE: i64 = 60_000;

/// 2026-03-07T12:00:00Z, a Saturday: New York changes to daylight time the next morning.
const T0: i64 = 1_772_884_800_000;

fn start(dir: tempfile::TempDir, clock: &ScheduleClock) -> TestServer {
    let clock = clock.clone();
    TestServer::start_with(dir, move |c| c.schedule_clock = clock)
}

fn function(s: &TestServer, name: &str, out: &Path) {
    let mut body = create_body(name, &zip_of(&[("app.py", RECORDER)]));
    body["Environment"] = json!({ "Variables": { "OUT": out.to_str().expect("utf-8 path") } });
    let r = s.call_json("POST", "/2015-03-31/functions", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    s.wait_active(name);
}

fn target(function: &str, input: Option<&str>) -> Value {
    let mut t = json!({
        "Arn": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"),
        "RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/scheduler"),
    });
    if let Some(i) = input {
        t["Input"] = json!(i);
    }
    t
}

fn schedule(expression: &str, target: Value) -> Value {
    json!({
        "ScheduleExpression": expression,
        "FlexibleTimeWindow": { "Mode": "OFF" },
        "Target": target,
    })
}

/// The lines of `path` once there are at least `n` (or fails after 30 s).
fn lines(path: &Path, n: usize) -> Vec<Value> {
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
            start.elapsed() < Duration::from_secs(30),
            "{} of {n} lines: {got:?}",
            got.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn out(files: &tempfile::TempDir, name: &str) -> PathBuf {
    files.path().join(format!("{name}.jsonl"))
}

fn at(ms: i64) -> String {
    nimbus_model::scheduler::scheduled_time(ms)
}

fn times(got: &[Value]) -> Vec<String> {
    got.iter()
        .map(|e| e["at"].as_str().expect("at").to_string())
        .collect()
}

#[test]
fn a_rate_schedule_fires_once_per_period_across_a_restart() {
    let clock = ScheduleClock::manual(T0);
    let files = tempfile::tempdir().expect("tempdir");
    let log = out(&files, "tick");
    let s = start(tempfile::tempdir().expect("tempdir"), &clock);
    function(&s, "tick", &log);
    let r = s.call_scheduler(
        "POST",
        "/schedules/every-minute",
        &schedule(
            "rate(1 minute)",
            target("tick", Some(r#"{"at": "<aws.scheduler.scheduled-time>"}"#)),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // A rate schedule starts at once, then once a minute.
    assert_eq!(times(&lines(&log, 1)), [at(T0)]);
    for n in 1..=3 {
        clock.advance(MINUTE);
        lines(&log, n + 1);
    }
    // Down for two periods: both are invoked (late) at the next start, then it goes on.
    let dir = std::mem::replace(&mut { s }.dir, tempfile::tempdir().expect("tempdir"));
    clock.advance(2 * MINUTE);
    let s = start(dir, &clock);
    lines(&log, 6);
    clock.advance(MINUTE);
    let got = lines(&log, 7);
    // Nothing more comes for times already fired.
    std::thread::sleep(Duration::from_millis(500));
    let got_later = lines(&log, 7);
    assert_eq!(got_later.len(), 7, "fired twice: {got_later:?}");
    // The two late fires are queued together and asynchronous invocations carry no order
    // (as on Lambda), so they may run either way round: compare as a set, each exactly once.
    let expected: Vec<String> = (0..7).map(|n| at(T0 + n * MINUTE)).collect();
    let mut fired = times(&got);
    fired.sort();
    assert_eq!(fired, expected);
    drop(s);
}

#[test]
fn a_cron_schedule_fires_at_local_times_across_a_dst_change() {
    let clock = ScheduleClock::manual(T0);
    let files = tempfile::tempdir().expect("tempdir");
    let log = out(&files, "morning");
    let s = start(tempfile::tempdir().expect("tempdir"), &clock);
    function(&s, "morning", &log);
    let mut body = schedule(
        "cron(30 9 * * ? *)",
        target(
            "morning",
            Some(r#"{"at": "<aws.scheduler.scheduled-time>"}"#),
        ),
    );
    body["ScheduleExpressionTimezone"] = json!("America/New_York");
    let r = s.call_scheduler("POST", "/schedules/morning", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    for day in 1..=3 {
        clock.advance(24 * 60 * MINUTE);
        lines(&log, day);
    }
    // 09:30 EST is 14:30Z; from Sunday 8 March, 09:30 EDT is 13:30Z.
    assert_eq!(
        times(&lines(&log, 3)),
        [
            "2026-03-07T14:30:00Z",
            "2026-03-08T13:30:00Z",
            "2026-03-09T13:30:00Z"
        ]
    );
}

#[test]
fn a_one_time_schedule_with_delete_is_gone_after_firing() {
    let clock = ScheduleClock::manual(T0);
    let files = tempfile::tempdir().expect("tempdir");
    let log = out(&files, "once");
    let s = start(tempfile::tempdir().expect("tempdir"), &clock);
    function(&s, "once", &log);
    let mut body = schedule("at(2026-03-07T12:10:00)", target("once", None));
    body["ActionAfterCompletion"] = json!("DELETE");
    let r = s.call_scheduler("POST", "/schedules/once", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let mut keep = schedule("at(2026-03-07T12:10:00)", target("once", None));
    keep["ActionAfterCompletion"] = json!("NONE");
    assert_eq!(
        s.call_scheduler("POST", "/schedules/kept", &keep).status,
        200
    );
    clock.advance(9 * MINUTE);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!log.exists(), "fired early");
    clock.advance(MINUTE);
    let got = lines(&log, 2);
    // Without an Input, Scheduler's own notification.
    assert_eq!(got[0]["detail-type"], "Scheduled Event");
    assert_eq!(got[0]["source"], "aws.scheduler");
    assert_eq!(got[0]["time"], "2026-03-07T12:10:00Z");
    let start = Instant::now();
    loop {
        let r = s.call_scheduler("GET", "/schedules/once", &Value::Null);
        if r.status == 404 {
            r.assert_error(
                404,
                "ResourceNotFoundException",
                "Schedule once does not exist.",
            );
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "not deleted");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = s.call_scheduler("GET", "/schedules/kept", &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn the_api_answers_as_scheduler_does() {
    let clock = ScheduleClock::manual(T0);
    let s = start(tempfile::tempdir().expect("tempdir"), &clock);
    let arn = |group: &str, name: &str| {
        format!("arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{group}/{name}")
    };
    let r = s.call_scheduler(
        "POST",
        "/schedules/a",
        &schedule("rate(5 minutes)", target("f", None)),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({ "ScheduleArn": arn("default", "a") }));
    let r = s.call_scheduler(
        "POST",
        "/schedules/a",
        &schedule("rate(5 minutes)", target("f", None)),
    );
    r.assert_error(409, "ConflictException", "Schedule a already exists.");
    let r = s.call_scheduler(
        "POST",
        "/schedules/b",
        &schedule("rate(0 minutes)", target("f", None)),
    );
    r.assert_error(
        400,
        "ValidationException",
        "Invalid Schedule Expression rate(0 minutes).",
    );
    assert_eq!(
        r.body["Message"],
        "Invalid Schedule Expression rate(0 minutes)."
    );
    let r = s.call_scheduler("GET", "/schedules/a", &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["ScheduleExpressionTimezone"], "UTC");
    assert_eq!(r.body["State"], "ENABLED");
    assert_eq!(r.body["ActionAfterCompletion"], "NONE");
    assert_eq!(r.body["CreationDate"], json!(T0 as f64 / 1000.0));
    assert_eq!(
        r.body["Target"]["RetryPolicy"],
        json!({ "MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185 })
    );
    s.call_scheduler("GET", "/schedules/zz", &Value::Null)
        .assert_error(
            404,
            "ResourceNotFoundException",
            "Schedule zz does not exist.",
        );
    s.call_scheduler("GET", "/schedules/a?groupName=nope", &Value::Null)
        .assert_error(
            404,
            "ResourceNotFoundException",
            "Schedule group nope does not exist.",
        );
    // Groups: the default one is there and stays; another takes its schedules along.
    let r = s.call_scheduler("GET", "/schedule-groups/default", &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("CreationDate").is_none(), "{}", r.body);
    s.call_scheduler("DELETE", "/schedule-groups/default", &Value::Null)
        .assert_error(
            400,
            "ValidationException",
            "This operation cannot be performed on schedule group default.",
        );
    let r = s.call_scheduler(
        "POST",
        "/schedule-groups/ops",
        &json!({ "Tags": [{ "Key": "team", "Value": "infra" }] }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let group_arn = r.body["ScheduleGroupArn"]
        .as_str()
        .expect("arn")
        .to_string();
    for name in ["n1", "n2", "n3"] {
        let mut body = schedule("cron(0 9 * * ? *)", target("f", None));
        body["GroupName"] = json!("ops");
        body["State"] = json!(if name == "n2" { "DISABLED" } else { "ENABLED" });
        let r = s.call_scheduler("POST", &format!("/schedules/{name}"), &body);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // Pages of one, across groups, then filtered.
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let q = match &token {
            Some(t) => format!("/schedules?MaxResults=1&NextToken={t}"),
            None => "/schedules?MaxResults=1".into(),
        };
        let r = s.call_scheduler("GET", &q, &Value::Null);
        assert_eq!(r.status, 200, "{}", r.body);
        for item in r.body["Schedules"].as_array().expect("list") {
            names.push(format!(
                "{}/{}",
                item["GroupName"].as_str().expect("g"),
                item["Name"].as_str().expect("n")
            ));
            assert_eq!(item["Target"].as_object().expect("target").len(), 1);
        }
        match r.body["NextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(names, ["default/a", "ops/n1", "ops/n2", "ops/n3"]);
    let r = s.call_scheduler(
        "GET",
        "/schedules?ScheduleGroup=ops&State=DISABLED",
        &Value::Null,
    );
    assert_eq!(
        r.body["Schedules"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.body
    );
    // Tags of a group.
    let tags_path = format!("/tags/{}", urlencode(&group_arn));
    let r = s.call_scheduler("GET", &tags_path, &Value::Null);
    assert_eq!(
        r.body,
        json!({ "Tags": [{ "Key": "team", "Value": "infra" }] })
    );
    let r = s.call_scheduler(
        "POST",
        &tags_path,
        &json!({ "Tags": [{ "Key": "env", "Value": "prod" }] }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.call_scheduler("DELETE", &format!("{tags_path}?TagKeys=team"), &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.call_scheduler("GET", &tags_path, &Value::Null);
    assert_eq!(
        r.body,
        json!({ "Tags": [{ "Key": "env", "Value": "prod" }] })
    );
    // UpdateSchedule replaces the schedule whole.
    let mut body = schedule("rate(1 hour)", target("f", None));
    body["Description"] = json!("hourly");
    assert_eq!(s.call_scheduler("PUT", "/schedules/a", &body).status, 200);
    let r = s.call_scheduler(
        "PUT",
        "/schedules/a",
        &schedule("rate(2 hours)", target("f", None)),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.call_scheduler("GET", "/schedules/a", &Value::Null);
    assert_eq!(r.body["ScheduleExpression"], "rate(2 hours)");
    assert!(r.body.get("Description").is_none(), "{}", r.body);
    assert_eq!(r.body["CreationDate"], json!(T0 as f64 / 1000.0));
    s.call_scheduler(
        "PUT",
        "/schedules/zz",
        &schedule("rate(2 hours)", target("f", None)),
    )
    .assert_error(
        404,
        "ResourceNotFoundException",
        "Schedule zz does not exist.",
    );
    // Deleting the group deletes its schedules.
    assert_eq!(
        s.call_scheduler("DELETE", "/schedule-groups/ops", &Value::Null)
            .status,
        200
    );
    let r = s.call_scheduler("GET", "/schedules", &Value::Null);
    assert_eq!(
        r.body["Schedules"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.body
    );
    assert_eq!(
        s.call_scheduler("DELETE", "/schedules/a", &Value::Null)
            .status,
        200
    );
    s.call_scheduler("DELETE", "/schedules/a", &Value::Null)
        .assert_error(
            404,
            "ResourceNotFoundException",
            "Schedule a does not exist.",
        );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn status(s: &TestServer) -> Value {
    let r = s.call("GET", "/_nimbus/schedules", b"");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

fn count(v: &Value, key: &str) -> u64 {
    v[key].as_u64().expect("a count")
}

/// The firing task reads the store once per wake-up: a write, or a time that has come. Many
/// schedules not yet due cost nothing while time passes; a schedule firing every minute for a
/// day costs one pass per firing (here its function is gone, so no invocation runs: only the
/// task's own work is counted).
#[test]
fn schedules_cost_no_polling_and_one_pass_per_firing() {
    let clock = ScheduleClock::manual(T0);
    let s = start(tempfile::tempdir().expect("tempdir"), &clock);
    for n in 0..500 {
        let r = s.call_scheduler(
            "POST",
            &format!("/schedules/later-{n}"),
            &schedule(
                &format!("cron({} 3 * * ? 2030)", n % 60),
                target("gone", None),
            ),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let before = status(&s);
    assert!(count(&before, "Passes") <= 501, "{before}");
    // Real time passes, the schedules' clock does not: nothing is read.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count(&status(&s), "Passes"), count(&before, "Passes"));

    let r = s.call_scheduler(
        "POST",
        "/schedules/every-minute",
        &schedule("rate(1 minute)", target("gone", None)),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let wait_for = |n: u64| {
        let start = Instant::now();
        loop {
            let v = status(&s);
            if count(&v, "Undeliverable") >= n {
                return v;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "{v}");
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    let first = wait_for(1);
    let day = 24 * 60;
    for minute in 1..=day {
        clock.advance(MINUTE);
        wait_for(minute + 1);
    }
    let after = status(&s);
    assert_eq!(count(&after, "Undeliverable"), day + 1, "{after}");
    assert_eq!(count(&after, "Fired"), 0, "{after}");
    let passes = count(&after, "Passes") - count(&first, "Passes");
    // One pass per firing, and at most one more per firing for a wake-up that found the
    // next time not yet come.
    eprintln!(
        "scheduler: {} passes for 500 writes; {passes} passes for {day} firings",
        count(&before, "Passes")
    );
    assert!(
        passes <= 2 * day,
        "{passes} passes for {day} firings: {after}"
    );
}
