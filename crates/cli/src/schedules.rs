//! `nimbus schedules list|get|create|delete`: EventBridge Scheduler schedules that invoke a
//! function, through the server's Scheduler API (the same one `aws scheduler` uses).

use anyhow::Context;
use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::{segment, Client};
use crate::Target;

#[derive(Subcommand, Debug)]
pub(crate) enum SchedulesCommand {
    /// List schedules (of every group, or of --group).
    List {
        /// Only this group's.
        #[arg(long)]
        group: Option<String>,
    },
    /// Show a schedule as GetSchedule answers.
    Get {
        /// The schedule's name.
        name: String,
        /// Its group.
        #[arg(long, default_value = "default")]
        group: String,
    },
    /// Create a schedule that invokes a function (asynchronously).
    Create {
        /// The schedule's name.
        name: String,
        /// `rate(5 minutes)`, `cron(0 9 ? * MON-FRI *)` or `at(2027-01-01T09:00:00)`.
        #[arg(long)]
        expression: String,
        /// The function to invoke (a name, `name:alias` or an ARN).
        #[arg(long)]
        function: String,
        /// The event, as JSON (without one: Scheduler's notification).
        #[arg(long)]
        input: Option<String>,
        /// The IANA time zone cron() and at() are read in (default UTC).
        #[arg(long)]
        timezone: Option<String>,
        /// Its group.
        #[arg(long, default_value = "default")]
        group: String,
        /// Invoke at a random moment up to this many minutes after each time.
        #[arg(long)]
        window_minutes: Option<u32>,
        /// Delete the schedule once it has nothing more to fire.
        #[arg(long)]
        delete_after: bool,
    },
    /// Delete a schedule.
    Delete {
        /// The schedule's name.
        name: String,
        /// Its group.
        #[arg(long, default_value = "default")]
        group: String,
    },
}

/// A function's ARN from a name, `name:qualifier` or an ARN (a name is looked up, so that a
/// typo fails here rather than at the first firing).
fn function_arn(client: &Client, f: &str) -> anyhow::Result<String> {
    if f.starts_with("arn:") {
        return Ok(f.to_string());
    }
    let (name, qualifier) = match f.split_once(':') {
        Some((n, q)) => (n, Some(q)),
        None => (f, None),
    };
    let path = match qualifier {
        Some(q) => format!(
            "/2015-03-31/functions/{}/configuration?Qualifier={}",
            segment(name),
            segment(q)
        ),
        None => format!("/2015-03-31/functions/{}/configuration", segment(name)),
    };
    let c = client.call("GET", &path, None)?;
    let arn = c
        .get("FunctionArn")
        .and_then(Value::as_str)
        .context("the function's configuration has no FunctionArn")?;
    // A qualified lookup answers the version's ARN: the alias is what was asked for.
    let unqualified = arn.splitn(8, ':').take(7).collect::<Vec<_>>().join(":");
    Ok(match qualifier {
        Some(q) => format!("{unqualified}:{q}"),
        None => unqualified,
    })
}

pub(crate) fn run(cmd: SchedulesCommand, target: &Target) -> anyhow::Result<()> {
    let client = Client::new(target)?;
    match cmd {
        SchedulesCommand::List { group } => {
            let mut token: Option<String> = None;
            println!("{:<20} {:<40} {:<9} TARGET", "GROUP", "NAME", "STATE");
            loop {
                let mut q = String::from("/schedules?MaxResults=100");
                if let Some(g) = &group {
                    q.push_str(&format!("&ScheduleGroup={}", segment(g)));
                }
                if let Some(t) = &token {
                    q.push_str(&format!("&NextToken={}", segment(t)));
                }
                let v = client.call("GET", &q, None)?;
                for s in v
                    .get("Schedules")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let f = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("?");
                    println!(
                        "{:<20} {:<40} {:<9} {}",
                        f("GroupName"),
                        f("Name"),
                        f("State"),
                        s.pointer("/Target/Arn")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                    );
                }
                match v.get("NextToken").and_then(Value::as_str) {
                    Some(t) => token = Some(t.to_string()),
                    None => break,
                }
            }
        }
        SchedulesCommand::Get { name, group } => {
            let v = client.call(
                "GET",
                &format!(
                    "/schedules/{}?groupName={}",
                    segment(&name),
                    segment(&group)
                ),
                None,
            )?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        SchedulesCommand::Create {
            name,
            expression,
            function,
            input,
            timezone,
            group,
            window_minutes,
            delete_after,
        } => {
            if let Some(i) = &input {
                serde_json::from_str::<Value>(i).context("--input must be JSON")?;
            }
            let arn = function_arn(&client, &function)?;
            let account = arn.split(':').nth(4).unwrap_or("000000000000");
            let mut t = json!({
                "Arn": arn,
                "RoleArn": format!("arn:aws:iam::{account}:role/nimbus-scheduler"),
            });
            if let Some(i) = input {
                t["Input"] = json!(i);
            }
            let window = match window_minutes {
                Some(m) => json!({ "Mode": "FLEXIBLE", "MaximumWindowInMinutes": m }),
                None => json!({ "Mode": "OFF" }),
            };
            let mut body = json!({
                "GroupName": group,
                "ScheduleExpression": expression,
                "FlexibleTimeWindow": window,
                "Target": t,
                "ActionAfterCompletion": if delete_after { "DELETE" } else { "NONE" },
            });
            if let Some(tz) = timezone {
                body["ScheduleExpressionTimezone"] = json!(tz);
            }
            let v = client.call(
                "POST",
                &format!("/schedules/{}", segment(&name)),
                Some(&body),
            )?;
            println!(
                "{}",
                v.get("ScheduleArn").and_then(Value::as_str).unwrap_or("")
            );
        }
        SchedulesCommand::Delete { name, group } => {
            client.call(
                "DELETE",
                &format!(
                    "/schedules/{}?groupName={}",
                    segment(&name),
                    segment(&group)
                ),
                None,
            )?;
            println!("deleted {group}/{name}");
        }
    }
    Ok(())
}
