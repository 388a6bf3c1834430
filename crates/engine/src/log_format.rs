//! Lambda's advanced logging controls, as the platform applies them: with `LogFormat: JSON` its
//! own lines are JSON records (`{"time", "type", "record"}`), and both its records and the
//! function's lines pass a log-level filter (`SystemLogLevel`, `ApplicationLogLevel`). A line
//! of the function's is a JSON object with a `level`, or INFO (AWS's rule, for every runtime).

use std::borrow::Cow;
use std::time::Duration;

use serde_json::{json, Value};

use crate::logs::Report;
use crate::resolve::LogControls;

/// A log level, least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    /// Lambda's names, and the spellings runtimes' loggers use for them.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        // Without allocating: this runs for every line of a JSON-format function.
        const NAMES: [(&str, Level); 8] = [
            ("TRACE", Level::Trace),
            ("DEBUG", Level::Debug),
            ("INFO", Level::Info),
            ("WARN", Level::Warn),
            ("WARNING", Level::Warn),
            ("ERROR", Level::Error),
            ("FATAL", Level::Fatal),
            ("CRITICAL", Level::Fatal),
        ];
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|&(_, level)| level)
    }
}

/// A function's logging controls, resolved for one invocation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Format {
    /// JSON records instead of Lambda's text lines.
    pub(crate) json: bool,
    application: Level,
    system: Level,
}

impl Format {
    pub(crate) fn of(c: &LogControls) -> Self {
        let level = |l: &Option<String>| l.as_deref().and_then(Level::parse);
        Self {
            json: c.json,
            application: level(&c.application_level)
                .filter(|_| c.json)
                .unwrap_or(Level::Trace),
            system: level(&c.system_level)
                .filter(|_| c.json)
                .unwrap_or(Level::Info),
        }
    }

    /// Whether a platform record of `level` is written.
    pub(crate) fn system(&self, level: Level) -> bool {
        level >= self.system
    }

    /// The function's output without the lines below `ApplicationLogLevel`.
    pub(crate) fn application<'a>(&self, output: &'a str) -> Cow<'a, str> {
        if self.application == Level::Trace {
            return Cow::Borrowed(output);
        }
        let mut kept = String::with_capacity(output.len());
        for line in output.lines() {
            if line_level(line) >= self.application {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        Cow::Owned(kept)
    }
}

/// The level of a line of the function's: its JSON object's `level`, else INFO.
fn line_level(line: &str) -> Level {
    let t = line.trim();
    if !(t.starts_with('{') && t.ends_with('}')) {
        return Level::Info;
    }
    #[derive(serde::Deserialize)]
    struct Levelled<'a> {
        #[serde(borrow)]
        level: Option<Cow<'a, str>>,
    }
    serde_json::from_str::<Levelled<'_>>(t)
        .ok()
        .and_then(|l| l.level)
        .and_then(|l| Level::parse(&l))
        .unwrap_or(Level::Info)
}

/// `2026-12-04T19:20:01.123Z`.
pub(crate) fn iso_ms(epoch_ms: i64) -> String {
    nimbus_model::function::utc_millis(epoch_ms, "Z")
}

/// One platform record, its members in Lambda's order.
pub(crate) fn record(epoch_ms: i64, kind: &str, record: &Value) -> String {
    format!(
        r#"{{"time":"{}","type":"{kind}","record":{record}}}"#,
        iso_ms(epoch_ms)
    )
}

fn ms(d: Duration) -> f64 {
    // Three decimals, as Lambda's records give them.
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// `platform.start`.
pub(crate) fn start(epoch_ms: i64, request_id: &str, version: &str) -> String {
    record(
        epoch_ms,
        "platform.start",
        &json!({ "requestId": request_id, "version": version }),
    )
}

fn status(r: &Report<'_>) -> &'static str {
    match r.status {
        None => "success",
        Some(("timeout", _)) => "timeout",
        Some(_) => "error",
    }
}

/// `platform.runtimeDone`.
pub(crate) fn runtime_done(epoch_ms: i64, r: &Report<'_>) -> String {
    let mut rec = json!({
        "requestId": r.request_id,
        "status": status(r),
        "metrics": { "durationMs": ms(r.duration) },
    });
    if let Some((_, Some(t))) = r.status {
        rec["errorType"] = json!(t);
    }
    record(epoch_ms, "platform.runtimeDone", &rec)
}

/// `platform.report`: the REPORT line's figures.
pub(crate) fn report(epoch_ms: i64, r: &Report<'_>) -> String {
    let mut metrics = json!({
        "durationMs": ms(r.duration),
        "billedDurationMs": r.billed_ms,
        "memorySizeMB": r.memory_mb,
        "maxMemoryUsedMB": r.max_memory_mb,
    });
    if let Some(init) = r.init {
        metrics["initDurationMs"] = json!(ms(init));
    }
    let mut rec = json!({
        "requestId": r.request_id,
        "metrics": metrics,
        "status": status(r),
    });
    if let Some((_, Some(t))) = r.status {
        rec["errorType"] = json!(t);
    }
    record(epoch_ms, "platform.report", &rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn controls(json: bool, app: &str, system: &str) -> Format {
        Format::of(&LogControls {
            json,
            application_level: Some(app.into()),
            system_level: Some(system.into()),
        })
    }

    #[test]
    fn application_lines_are_filtered_by_their_level_or_as_info() {
        let out = "plain text\n{\"level\":\"DEBUG\",\"message\":\"d\"}\n{\"level\":\"WARN\",\"message\":\"w\"}\n{\"level\":\"warning\"}\n{\"level\":\"ERROR\"}\n{\"no\":\"level\"}\n{broken\n";
        let warn = controls(true, "WARN", "INFO");
        assert_eq!(
            warn.application(out),
            "{\"level\":\"WARN\",\"message\":\"w\"}\n{\"level\":\"warning\"}\n{\"level\":\"ERROR\"}\n"
        );
        let info = controls(true, "INFO", "INFO");
        assert_eq!(info.application(out).lines().count(), 6, "all but DEBUG");
        // Text format: nothing is filtered, whatever is stored.
        assert_eq!(controls(false, "FATAL", "WARN").application(out), out);
    }

    #[test]
    fn hostile_lines_are_info_and_cheap() {
        // Deep nesting beside the level is skipped without recursion (no stack overflow).
        let deep = format!(
            "{{\"level\":\"ERROR\",\"a\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(line_level(&deep), Level::Error);
        // A level that is not a level name is INFO.
        let nested = format!(
            "{{\"level\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(line_level(&nested), Level::Info);
        assert_eq!(line_level("{\"level\": 7}"), Level::Info);
        assert_eq!(line_level("{\"level\": \"LOUD\"}"), Level::Info);
        assert_eq!(line_level("  {\"level\":\"fatal\"}  "), Level::Fatal);
        assert_eq!(line_level("{}"), Level::Info);
    }

    #[test]
    fn system_levels() {
        let warn = controls(true, "INFO", "WARN");
        assert!(!warn.system(Level::Info) && warn.system(Level::Warn));
        let debug = controls(true, "INFO", "DEBUG");
        assert!(debug.system(Level::Debug));
        assert!(!controls(true, "INFO", "INFO").system(Level::Debug));
    }

    #[test]
    fn records_have_lambdas_shape() {
        let r = Report {
            request_id: "id",
            duration: Duration::from_micros(2_345),
            memory_mb: 128,
            max_memory_mb: 40,
            init: Some(Duration::from_micros(100_500)),
            billed_ms: 103,
            status: Some(("error", Some("Runtime.ExitError"))),
        };
        let line = report(1_764_683_100_123, &r);
        assert!(line.starts_with(
            r#"{"time":"2025-12-02T13:45:00.123Z","type":"platform.report","record":{"#
        ));
        let v: Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(v["record"]["metrics"]["durationMs"], 2.345);
        assert_eq!(v["record"]["metrics"]["billedDurationMs"], 103);
        assert_eq!(v["record"]["metrics"]["initDurationMs"], 100.5);
        assert_eq!(v["record"]["status"], "error");
        assert_eq!(v["record"]["errorType"], "Runtime.ExitError");
        let s: Value = serde_json::from_str(&start(0, "id", "$LATEST")).expect("JSON");
        assert_eq!(
            s["record"],
            json!({ "requestId": "id", "version": "$LATEST" })
        );
    }
}
