//! Lambda's advanced logging controls: `LogFormat: JSON` turns the platform's lines into
//! `platform.*` records and the Python and Node.js runtimes' logs into JSON objects, and
//! `ApplicationLogLevel` / `SystemLogLevel` drop what is below them; AWS's validation.

mod support;

use base64::Engine;
use serde_json::{json, Value};
use support::{create_body, zip_of, TestServer};

const PYTHON: &[u8] = br#"import json, logging
logger = logging.getLogger()
def handler(event, context):
    logger.debug("a debug line")
    logger.info("an info line")
    logger.warning("careful %s", 1)
    logger.error("failed", extra={"order": 7})
    try:
        1 / 0
    except ZeroDivisionError:
        logger.exception("caught")
    print("printed text")
    print(json.dumps({"level": "ERROR", "message": "own json"}))
    return "ok"
"#;

const NODE: &[u8] = br#"exports.handler = async () => {
  console.debug('a debug line');
  console.info('an info line');
  console.warn('careful', 1);
  console.error(new TypeError('bad type'));
  console.log({ kept: false });
  return 'ok';
};
"#;

/// Creates `name` with `logging`, and `runtime`'s handler in `zip`.
fn create(s: &TestServer, name: &str, runtime: &str, handler: &str, zip: &[u8], logging: Value) {
    let mut body = create_body(name, zip);
    body["Runtime"] = json!(runtime);
    body["Handler"] = json!(handler);
    body["LoggingConfig"] = logging;
    let r = s.call_json("POST", "/2015-03-31/functions", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    s.wait_active(name);
}

/// Invokes `name` with its log tail: the request id and the tail's lines.
fn invoke(s: &TestServer, name: &str) -> (String, Vec<String>) {
    let r = s.call_with_headers(
        "POST",
        &format!("/2015-03-31/functions/{name}/invocations"),
        b"{}",
        &[("x-amz-log-type", "Tail")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-amz-function-error"), None, "{}", r.body);
    let tail = base64::engine::general_purpose::STANDARD
        .decode(r.header("x-amz-log-result").expect("a log tail"))
        .expect("base64");
    let lines = String::from_utf8(tail)
        .expect("utf-8")
        .lines()
        .map(str::to_string)
        .collect();
    (r.header("x-amzn-requestid").expect("request id"), lines)
}

/// The stored messages of `name`'s log group, once there are `n` (the log writer batches).
fn stored_messages(s: &TestServer, name: &str, n: usize) -> Vec<String> {
    let start = std::time::Instant::now();
    loop {
        let r = s.call("GET", &format!("/_nimbus/logs/{name}?since=0"), b"");
        let got: Vec<String> = r.body["Events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .filter_map(|e| e["Message"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if got.len() >= n {
            return got;
        }
        assert!(
            start.elapsed().as_secs() < 20,
            "{} of {n}: {got:?}",
            got.len()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn parsed(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect()
}

#[test]
fn a_json_python_function_at_warn_logs_only_warnings_and_above_in_aws_shape() {
    let s = TestServer::start();
    create(
        &s,
        "py-json",
        "python3.12",
        "app.handler",
        &zip_of(&[("app.py", PYTHON)]),
        json!({ "LogFormat": "JSON", "ApplicationLogLevel": "WARN" }),
    );
    let c = s.call("GET", "/2015-03-31/functions/py-json/configuration", b"");
    assert_eq!(
        c.body["LoggingConfig"],
        json!({
            "LogFormat": "JSON",
            "ApplicationLogLevel": "WARN",
            "SystemLogLevel": "INFO",
            "LogGroup": "/aws/lambda/py-json",
        })
    );
    let (id, lines) = invoke(&s, "py-json");
    let records = parsed(&lines);
    assert_eq!(records.len(), 6, "{lines:#?}");
    assert_eq!(records[0]["type"], "platform.start");
    assert_eq!(
        records[0]["record"],
        json!({ "requestId": id, "version": "$LATEST" })
    );
    let app = &records[1..5];
    for r in &app[..3] {
        assert!(
            r["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{r}"
        );
    }
    assert_eq!(app[0]["level"], "WARNING");
    assert_eq!(app[0]["message"], "careful 1");
    assert_eq!(app[0]["logger"], "root");
    assert_eq!(app[0]["requestId"], id.as_str());
    assert_eq!(app[1]["level"], "ERROR");
    assert_eq!(app[1]["message"], "failed");
    assert_eq!(app[1]["order"], 7, "extra fields are kept");
    assert_eq!(app[2]["message"], "caught");
    assert_eq!(app[2]["errorType"], "ZeroDivisionError");
    assert_eq!(app[2]["errorMessage"], "division by zero");
    assert!(app[2]["stackTrace"].is_array());
    // A line of the function's own: JSON with a level is filtered by it, plain text is INFO.
    assert_eq!(app[3], json!({ "level": "ERROR", "message": "own json" }));
    let report = &records[5];
    assert_eq!(report["type"], "platform.report");
    assert_eq!(report["record"]["requestId"], id.as_str());
    assert_eq!(report["record"]["status"], "success");
    let m = &report["record"]["metrics"];
    assert_eq!(m["memorySizeMB"], 128);
    assert!(
        m["durationMs"].is_f64() && m["billedDurationMs"].is_u64(),
        "{m}"
    );
    assert!(m["initDurationMs"].is_f64(), "a cold start: {m}");
    assert!(!lines
        .iter()
        .any(|l| l.contains("an info line") || l.contains("printed text")));
    // The stored log has the init record too, and nothing in Lambda's text shape.
    let stored = stored_messages(&s, "py-json", 1 + records.len());
    let messages: Vec<&str> = stored.iter().map(String::as_str).collect();
    let first: Value = serde_json::from_str(messages[0]).expect("JSON");
    assert_eq!(first["type"], "platform.initStart");
    assert_eq!(first["record"]["initializationType"], "on-demand");
    assert_eq!(first["record"]["functionName"], "py-json");
    assert!(!messages.iter().any(|m| m.starts_with("START ")
        || m.starts_with("REPORT ")
        || m.starts_with("INIT_START")));
    // Warm: no init duration.
    let (_, warm) = invoke(&s, "py-json");
    let warm = parsed(&warm);
    assert!(warm.last().expect("report")["record"]["metrics"]
        .get("initDurationMs")
        .is_none());
}

#[test]
fn a_json_node_function_filters_console_and_system_records() {
    let s = TestServer::start();
    create(
        &s,
        "node-json",
        "nodejs20.x",
        "index.handler",
        &zip_of(&[("index.js", NODE)]),
        json!({ "LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "WARN" }),
    );
    let (id, lines) = invoke(&s, "node-json");
    let records = parsed(&lines);
    // SystemLogLevel WARN: no platform.start or platform.report; only WARN and ERROR lines.
    assert_eq!(records.len(), 2, "{lines:#?}");
    assert_eq!(records[0]["level"], "WARN");
    assert_eq!(records[0]["message"], "careful 1");
    assert_eq!(records[0]["requestId"], id.as_str());
    assert_eq!(records[1]["level"], "ERROR");
    assert_eq!(records[1]["message"]["errorType"], "TypeError");
    assert_eq!(records[1]["message"]["errorMessage"], "bad type");
    assert!(records[1]["message"]["stackTrace"].is_array());

    // DEBUG shows every platform record, runtimeDone among them.
    let r = s.call_json(
        "PUT",
        "/2015-03-31/functions/node-json/configuration",
        &json!({ "LoggingConfig": { "SystemLogLevel": "DEBUG", "ApplicationLogLevel": "TRACE" } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["LoggingConfig"]["LogFormat"], "JSON", "kept");
    s.wait_active("node-json");
    let (_, lines) = invoke(&s, "node-json");
    let kinds: Vec<String> = parsed(&lines)
        .iter()
        .map(|r| {
            r["type"]
                .as_str()
                .or(r["level"].as_str())
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "platform.start",
            "DEBUG",
            "INFO",
            "WARN",
            "ERROR",
            "INFO",
            "platform.runtimeDone",
            "platform.report"
        ],
        "{lines:#?}"
    );
}

#[test]
fn logging_config_is_validated_and_merged_as_aws_does() {
    let s = TestServer::start();
    let zip = zip_of(&[(
        "app.py",
        b"def handler(e, c):\n    print('text')\n    return 1\n",
    )]);
    let mut body = create_body("levels", &zip);
    body["LoggingConfig"] = json!({ "LogFormat": "Text", "ApplicationLogLevel": "INFO" });
    let r = s.call_json("POST", "/2015-03-31/functions", &body);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error_type(), "InvalidParameterValueException");
    body["LoggingConfig"] =
        json!({ "LogFormat": "JSON", "ApplicationLogLevel": "LOUD", "SystemLogLevel": "ERROR" });
    let r = s.call_json("POST", "/2015-03-31/functions", &body);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error_type(), "ValidationException");
    assert_eq!(
        r.message(),
        "2 validation errors detected: Value 'LOUD' at 'loggingConfig.applicationLogLevel' failed to satisfy constraint: Member must satisfy enum value set: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]; Value 'ERROR' at 'loggingConfig.systemLogLevel' failed to satisfy constraint: Member must satisfy enum value set: [DEBUG, INFO, WARN]"
    );
    assert_eq!(s.function_count(), 0, "nothing stored");

    body["LoggingConfig"] = json!({ "LogFormat": "JSON", "SystemLogLevel": "WARN" });
    let r = s.call_json("POST", "/2015-03-31/functions", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["LoggingConfig"]["ApplicationLogLevel"], "INFO");
    s.wait_active("levels");
    // JSON: print() is an INFO line, kept at INFO.
    let (_, lines) = invoke(&s, "levels");
    assert_eq!(lines, ["text"]);
    // Back to Text: the levels go, the lines are Lambda's again.
    let r = s.call_json(
        "PUT",
        "/2015-03-31/functions/levels/configuration",
        &json!({ "LoggingConfig": { "LogFormat": "Text" } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["LoggingConfig"],
        json!({ "LogFormat": "Text", "LogGroup": "/aws/lambda/levels" })
    );
    s.wait_active("levels");
    let (_, lines) = invoke(&s, "levels");
    assert!(lines[0].starts_with("START RequestId: "), "{lines:?}");
    assert!(lines
        .last()
        .is_some_and(|l| l.starts_with("REPORT RequestId: ")));
    // A level alone on a Text function is refused, and changes nothing.
    let r = s.call_json(
        "PUT",
        "/2015-03-31/functions/levels/configuration",
        &json!({ "LoggingConfig": { "ApplicationLogLevel": "ERROR" } }),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error_type(), "InvalidParameterValueException");
}

#[test]
fn a_text_python_function_logs_through_lambdas_handler() {
    let s = TestServer::start();
    create(
        &s,
        "py-text",
        "python3.12",
        "app.handler",
        &zip_of(&[("app.py", PYTHON)]),
        json!({ "LogFormat": "Text" }),
    );
    let (id, lines) = invoke(&s, "py-text");
    // The root logger stays at Python's WARNING; records are `[LEVEL]\ttime\tid\tmessage`.
    let logged: Vec<&String> = lines.iter().filter(|l| l.starts_with('[')).collect();
    assert_eq!(logged.len(), 3, "{lines:#?}");
    let fields: Vec<&str> = logged[0].split('\t').collect();
    assert_eq!(fields[0], "[WARNING]");
    assert!(
        fields[1].ends_with('Z') && fields[1].len() == 24,
        "{}",
        fields[1]
    );
    assert_eq!(fields[2], id);
    assert_eq!(fields[3], "careful 1");
    assert!(logged[1].starts_with("[ERROR]\t") && logged[1].ends_with("\tfailed"));
    // One event for the record and its traceback.
    assert!(
        logged[2].contains("\tcaught\rTraceback (most recent call last):\r"),
        "{}",
        logged[2]
    );
    assert!(logged[2].ends_with("ZeroDivisionError: division by zero"));
    assert!(lines.iter().any(|l| l == "printed text"));
}

#[test]
fn a_function_that_configures_logging_itself_logs_each_record_once() {
    let s = TestServer::start();
    let app: &[u8] = b"import logging\nlogging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s')\ndef handler(e, c):\n    logging.info('just once')\n    return 1\n";
    create(
        &s,
        "own-logging",
        "python3.12",
        "app.handler",
        &zip_of(&[("app.py", app)]),
        json!({ "LogFormat": "Text" }),
    );
    let (_, lines) = invoke(&s, "own-logging");
    let said: Vec<&String> = lines.iter().filter(|l| l.contains("just once")).collect();
    assert_eq!(said, ["INFO just once"], "{lines:#?}");
}
