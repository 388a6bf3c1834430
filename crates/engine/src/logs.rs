//! Lambda's log lines (`INIT_START`, `START`, `END`, `REPORT`) and where they go.

use std::time::Duration;

/// One log event: a line of output or a platform line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Epoch milliseconds.
    pub timestamp_ms: i64,
    /// The line: in the text format with its trailing newline, as CloudWatch keeps it.
    pub message: String,
}

/// Where the engine sends what environments write. Must not block.
pub trait LogSink: Send + Sync {
    /// Appends events to `stream` of `group`.
    fn write(&self, group: &str, stream: &str, events: Vec<LogEvent>);
}

/// Splits captured output into events, one per line; an empty line is no event. AWS compat:
/// in the text format every message keeps its newline, the platform's lines too (CloudWatch
/// shows `START RequestId: ... Version: $LATEST\n`); JSON records (`newline` false) have none.
pub(crate) fn events(text: &str, timestamp_ms: i64, newline: bool) -> Vec<LogEvent> {
    text.split('\n')
        .filter(|l| !l.is_empty())
        .map(|l| LogEvent {
            timestamp_ms,
            message: if newline {
                format!("{l}\n")
            } else {
                l.to_string()
            },
        })
        .collect()
}

/// `Duration: 3.01 ms`, two decimals.
fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// AWS compat: billed duration is the duration rounded up to the next whole millisecond; an
/// on-demand cold start's init phase is billed with its first invocation (Lambda bills the
/// INIT phase of every function since August 2025).
pub(crate) fn billed_ms(duration: Duration, init: Option<Duration>) -> u64 {
    let d = duration + init.unwrap_or_default();
    u64::try_from(d.as_micros().div_ceil(1000).max(1)).unwrap_or(u64::MAX)
}

pub(crate) fn start_line(request_id: &str, version: &str) -> String {
    format!("START RequestId: {request_id} Version: {version}")
}

pub(crate) fn end_line(request_id: &str) -> String {
    format!("END RequestId: {request_id}")
}

/// What the REPORT line says about an invocation.
pub(crate) struct Report<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) duration: Duration,
    pub(crate) memory_mb: u32,
    pub(crate) max_memory_mb: u64,
    pub(crate) init: Option<Duration>,
    /// What is billed: [`billed_ms`] of the duration and init.
    pub(crate) billed_ms: u64,
    /// `timeout` or `error` (with the error type) when the platform ended the invocation.
    pub(crate) status: Option<(&'a str, Option<&'a str>)>,
}

/// AWS compat: tab-separated, with a trailing tab (spec/lambda-compat.md §7).
pub(crate) fn report_line(r: &Report<'_>) -> String {
    let mut s = format!(
        "REPORT RequestId: {}\tDuration: {}\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
        r.request_id,
        millis(r.duration),
        r.billed_ms,
        r.memory_mb,
        r.max_memory_mb
    );
    if let Some(init) = r.init {
        s.push_str(&format!("Init Duration: {}\t", millis(init)));
    }
    if let Some((status, error_type)) = r.status {
        s.push_str(&format!("Status: {status}\t"));
        if let Some(t) = error_type {
            s.push_str(&format!("Error Type: {t}\t"));
        }
    }
    s
}

/// `YYYY/MM/DD/[$LATEST]<32 hex>`, dated `epoch_ms`.
pub(crate) fn stream_name(version: &str, env_id: &str, epoch_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(epoch_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}/{:02}/{:02}/[{version}]{env_id}",
        t.year(),
        u8::from(t.month()),
        t.day()
    )
}

/// The last 4 KB of `text`, cut at a character boundary.
pub(crate) fn tail(text: &str) -> &str {
    const MAX: usize = 4096;
    if text.len() <= MAX {
        return text;
    }
    let mut start = text.len() - MAX;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_format() {
        let r = Report {
            request_id: "id",
            duration: Duration::from_micros(3_001),
            memory_mb: 128,
            max_memory_mb: 36,
            init: Some(Duration::from_micros(110_104)),
            billed_ms: billed_ms(
                Duration::from_micros(3_001),
                Some(Duration::from_micros(110_104)),
            ),
            status: None,
        };
        assert_eq!(
            report_line(&r),
            "REPORT RequestId: id\tDuration: 3.00 ms\tBilled Duration: 114 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tInit Duration: 110.10 ms\t"
        );
        let warm = Report {
            init: None,
            duration: Duration::from_millis(2),
            billed_ms: billed_ms(Duration::from_millis(2), None),
            status: Some(("timeout", None)),
            ..r
        };
        assert_eq!(
            report_line(&warm),
            "REPORT RequestId: id\tDuration: 2.00 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tStatus: timeout\t"
        );
    }

    #[test]
    fn billing_rounds_up() {
        assert_eq!(billed_ms(Duration::from_micros(1), None), 1);
        assert_eq!(billed_ms(Duration::ZERO, None), 1);
        assert_eq!(billed_ms(Duration::from_micros(1000), None), 1);
        assert_eq!(billed_ms(Duration::from_micros(1001), None), 2);
        // The init phase is billed with the invocation, and rounded once, with it.
        let init = Some(Duration::from_micros(100_400));
        assert_eq!(billed_ms(Duration::from_micros(2_300), init), 103);
    }

    #[test]
    fn stream_names_are_dated() {
        assert_eq!(
            stream_name("$LATEST", "abc", 1_764_683_100_000),
            "2025/12/02/[$LATEST]abc"
        );
    }

    #[test]
    fn tail_keeps_the_end() {
        let s = "é".repeat(3000);
        let t = tail(&s);
        assert!(t.len() <= 4096 && s.ends_with(t));
        assert_eq!(tail("short"), "short");
    }
}
