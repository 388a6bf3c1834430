//! `nimbus cost [--since 7d|2026-12-01] [--by function|version|day] [--json]`: what the
//! ledger says invocations were billed, priced by the server's price table.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::client::Client;
use crate::Target;

#[derive(clap::Args, Debug)]
pub(crate) struct CostArgs {
    /// From when: a span back from now (`30m`, `12h`, `7d`), a date (`2026-12-01`, UTC) or an
    /// RFC 3339 time. Counted in whole hours: the hour it falls in is included. Default: all.
    #[arg(long)]
    since: Option<String>,
    /// How to group: per function, per function version, or per UTC day.
    #[arg(long, default_value = "function", value_parser = ["function", "version", "day"])]
    by: String,
    /// Print the server's answer as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: Target,
}

/// `--since` as epoch milliseconds.
fn since_ms(s: &str, now_ms: i64) -> anyhow::Result<i64> {
    if let Ok(span) = crate::logs::parse_since(s) {
        let back = i64::try_from(span.as_millis()).unwrap_or(i64::MAX);
        return Ok(now_ms.saturating_sub(back));
    }
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, rfc3339) {
        return Ok(i64::try_from(t.unix_timestamp_nanos() / 1_000_000)?);
    }
    let day = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, day) {
        return Ok(d.midnight().assume_utc().unix_timestamp() * 1000);
    }
    bail!(
        "--since expects a span (30m, 12h, 7d), a date (2026-12-01) or an RFC 3339 time; got {s:?}"
    )
}

fn num(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(0.0)
}

pub(crate) fn run(args: CostArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.target)?;
    let now_ms = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    let mut path = format!("/_nimbus/costs?by={}", args.by);
    if let Some(s) = &args.since {
        path.push_str(&format!("&since={}", since_ms(s, now_ms)?));
    }
    let report = client.call("GET", &path, None)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let currency = report
        .get("Currency")
        .and_then(Value::as_str)
        .unwrap_or("USD");
    let groups = report
        .get("Groups")
        .and_then(Value::as_array)
        .context("the server's answer has no Groups")?;
    let label = |g: &Value| match args.by.as_str() {
        "version" => format!(
            "{}:{}",
            g["Function"].as_str().unwrap_or(""),
            g["Version"].as_str().unwrap_or("")
        ),
        "day" => g["Day"].as_str().unwrap_or("").to_string(),
        _ => g["Function"].as_str().unwrap_or("").to_string(),
    };
    println!(
        "{:<40} {:>12} {:>16} {:>14}",
        args.by.to_uppercase(),
        "REQUESTS",
        "GB-SECONDS",
        currency
    );
    let total = &report["Total"];
    for g in groups.iter().chain(std::iter::once(total)) {
        let name = if std::ptr::eq(g, total) {
            "total".to_string()
        } else {
            label(g)
        };
        println!(
            "{:<40} {:>12} {:>16.3} {:>14.6}",
            name,
            g["Requests"].as_u64().unwrap_or(0),
            num(g, "GbSeconds"),
            num(&g["Cost"], "Total"),
        );
    }
    if let Some(n) = report
        .get("Unrecorded")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
    {
        eprintln!("warning: {n} invocations could not be recorded (see the server's log)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_spans_dates_and_times() -> anyhow::Result<()> {
        let now = 1_764_900_000_000;
        assert_eq!(since_ms("2h", now)?, now - 7_200_000);
        assert_eq!(since_ms("2026-12-01", now)?, 1_796_083_200_000);
        assert_eq!(since_ms("2026-12-01T01:00:00Z", now)?, 1_796_086_800_000);
        assert!(since_ms("yesterday", now).is_err());
        Ok(())
    }
}
