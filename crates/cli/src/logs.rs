//! `nimbus logs NAME [--follow] [--since 10m]`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use serde_json::Value;

use crate::client::{segment, Client};
use crate::Target;

#[derive(clap::Args, Debug)]
pub(crate) struct LogsArgs {
    /// Function name.
    name: String,
    /// Keep printing new events as they arrive.
    #[arg(long, short)]
    follow: bool,
    /// Only events newer than this: `30s`, `10m`, `2h`, `1d`.
    #[arg(long, default_value = "1h")]
    since: String,
    #[command(flatten)]
    target: Target,
}

/// `30s`, `10m`, `2h`, `1d` as a duration.
pub(crate) fn parse_since(s: &str) -> anyhow::Result<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("--since expects e.g. 30s, 10m, 2h, 1d; got {s:?}"))?;
    let unit_secs: u64 = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("--since expects e.g. 30s, 10m, 2h, 1d; got {s:?}"),
    };
    let secs = n
        .checked_mul(unit_secs)
        .ok_or_else(|| anyhow::anyhow!("--since {s:?} is too far back"))?;
    Ok(Duration::from_secs(secs))
}

pub(crate) fn run(args: LogsArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.target)?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let since = now_ms.saturating_sub(parse_since(&args.since)?.as_millis());
    let mut after: i64 = 0;
    loop {
        let page = client.call(
            "GET",
            &format!(
                "/_nimbus/logs/{}?since={since}&after={after}",
                segment(&args.name)
            ),
            None,
        )?;
        let events = page
            .get("Events")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for e in &events {
            // A message ends with its newline, as CloudWatch keeps it: printed once.
            let msg = e.get("Message").and_then(Value::as_str).unwrap_or("");
            println!("{}", msg.strip_suffix('\n').unwrap_or(msg));
            after = after.max(e.get("Id").and_then(Value::as_i64).unwrap_or(after));
        }
        if events.len() >= 1000 {
            continue;
        }
        if !args.follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_units() {
        assert_eq!(parse_since("30s").expect("s"), Duration::from_secs(30));
        assert_eq!(parse_since("10m").expect("m"), Duration::from_secs(600));
        assert_eq!(parse_since("2h").expect("h"), Duration::from_secs(7200));
        assert!(parse_since("ten").is_err());
        assert!(parse_since("5w").is_err());
        assert!(parse_since("999999999999999999d").is_err(), "no overflow");
    }
}
