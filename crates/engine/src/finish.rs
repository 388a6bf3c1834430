//! The finish stage's words: what each way an invocation can end answers, and the log lines
//! that frame it.

use std::time::Duration;

use axum::body::Bytes;
use serde_json::json;

use crate::environment::{InitFailure, RunResult};
use crate::log_format::{self, Format, Level};
use crate::logs::{self, Report};
use crate::runtime_api::MAX_RESPONSE_BYTES;

/// `{"errorType": ..., "errorMessage": ...}`.
pub(crate) fn error_body(error_type: &str, message: String) -> Bytes {
    Bytes::from(json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

/// AWS compat: how Lambda words a runtime that exited during an invocation.
pub(crate) fn exit_message(request_id: &str, how: &str) -> String {
    if how == "exit status 0" {
        format!("RequestId: {request_id} Error: Runtime exited without providing a reason")
    } else {
        format!("RequestId: {request_id} Error: Runtime exited with error: {how}")
    }
}

/// What the REPORT line's status says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    Error(String),
    Timeout,
}

/// How one invocation ended, in Lambda's terms.
pub(crate) struct Ending {
    pub(crate) payload: Bytes,
    pub(crate) status: Status,
    /// Whether the environment may serve again.
    pub(crate) reusable: bool,
}

impl Ending {
    pub(crate) fn function_failed(&self) -> bool {
        self.status != Status::Ok
    }

    pub(crate) fn error_type(&self) -> Option<String> {
        match &self.status {
            Status::Ok => None,
            Status::Error(t) => Some(t.clone()),
            Status::Timeout => Some("Sandbox.Timedout".into()),
        }
    }
}

/// The answer to an invocation that ran.
pub(crate) fn ending(result: RunResult, request_id: &str, limit: Duration, oom: bool) -> Ending {
    match result {
        RunResult::Response(payload) => Ending {
            payload,
            status: Status::Ok,
            reusable: true,
        },
        RunResult::Streamed { error: None } => Ending {
            payload: Bytes::new(),
            status: Status::Ok,
            reusable: true,
        },
        RunResult::Streamed {
            error: Some((error_type, body)),
        } => Ending {
            payload: body,
            status: Status::Error(error_type),
            reusable: true,
        },
        RunResult::Error { error_type, body } => Ending {
            payload: body,
            status: Status::Error(error_type),
            reusable: true,
        },
        RunResult::ResponseTooLarge => Ending {
            payload: Bytes::from(json!({
                "errorMessage": format!("Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
                "errorType": "Function.ResponseSizeTooLarge",
            }).to_string()),
            status: Status::Error("Function.ResponseSizeTooLarge".into()),
            reusable: true,
        },
        RunResult::TimedOut => Ending {
            payload: error_body(
                "Sandbox.Timedout",
                format!(
                    "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                    limit.as_secs_f64()
                ),
            ),
            status: Status::Timeout,
            reusable: false,
        },
        RunResult::Exited { how, .. } => {
            // AWS compat: a runtime killed for exceeding its memory is reported as such.
            let error_type = if oom { "Runtime.OutOfMemory" } else { "Runtime.ExitError" };
            Ending {
                payload: error_body(error_type, exit_message(request_id, &how)),
                status: Status::Error(error_type.into()),
                reusable: false,
            }
        }
    }
}

/// The answer to an invocation whose environment failed its init phase.
pub(crate) fn init_ending(failure: InitFailure, request_id: &str) -> Ending {
    let (payload, error_type) = match failure {
        InitFailure::Error { error_type, body } => (body, error_type),
        InitFailure::Exited(how) => (
            error_body("Runtime.ExitError", exit_message(request_id, &how)),
            "Runtime.ExitError".to_string(),
        ),
        InitFailure::TimedOut(limit) => (
            error_body(
                "Sandbox.Timedout",
                format!(
                    "RequestId: {request_id} Error: Init phase timed out after {:.2} seconds",
                    limit.as_secs_f64()
                ),
            ),
            "Sandbox.Timedout".to_string(),
        ),
    };
    Ending {
        payload,
        status: Status::Error(error_type),
        reusable: false,
    }
}

/// The invocation's log: what the runtime wrote, framed by START, END and REPORT (or, in the
/// JSON format, by `platform.start`, `platform.runtimeDone` and `platform.report` records, and
/// filtered by the log levels); `start_ms` is when it began.
pub(crate) fn framed_log(
    version: &str,
    output: &str,
    report: &Report<'_>,
    output_before_start: bool,
    format: &Format,
    start_ms: i64,
) -> String {
    if format.json {
        return json_log(
            version,
            output,
            report,
            output_before_start,
            format,
            start_ms,
        );
    }
    let id = report.request_id;
    let mut log = String::with_capacity(output.len() + 256);
    if output_before_start {
        push_lines(&mut log, output);
    }
    log.push_str(&logs::start_line(id, version));
    log.push('\n');
    if !output_before_start {
        push_lines(&mut log, output);
    }
    log.push_str(&logs::end_line(id));
    log.push('\n');
    log.push_str(&logs::report_line(report));
    log.push('\n');
    log
}

fn json_log(
    version: &str,
    output: &str,
    report: &Report<'_>,
    output_before_start: bool,
    format: &Format,
    start_ms: i64,
) -> String {
    let output = format.application(output);
    let end_ms = start_ms.saturating_add(i64::try_from(report.duration.as_millis()).unwrap_or(0));
    let mut log = String::with_capacity(output.len() + 512);
    if output_before_start {
        push_lines(&mut log, &output);
    }
    if format.system(Level::Info) {
        log.push_str(&log_format::start(start_ms, report.request_id, version));
        log.push('\n');
    }
    if !output_before_start {
        push_lines(&mut log, &output);
    }
    if format.system(Level::Debug) {
        log.push_str(&log_format::runtime_done(end_ms, report));
        log.push('\n');
    }
    if format.system(Level::Info) {
        log.push_str(&log_format::report(end_ms, report));
        log.push('\n');
    }
    log
}

fn push_lines(log: &mut String, output: &str) {
    for line in output.lines() {
        log.push_str(line);
        log.push('\n');
    }
}

/// The REPORT status of an ending.
pub(crate) fn report_status(status: &Status) -> Option<(&str, Option<&str>)> {
    match status {
        Status::Ok => None,
        Status::Error(t) => Some(("error", Some(t.as_str()))),
        Status::Timeout => Some(("timeout", None)),
    }
}
