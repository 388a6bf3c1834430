//! `nimbus functions list|get|delete`.

use clap::Subcommand;
use serde_json::Value;

use crate::client::{segment, Client};
use crate::Target;

#[derive(Subcommand, Debug)]
pub(crate) enum FunctionsCommand {
    /// List every function.
    List,
    /// Show a function's configuration and code location.
    Get {
        /// Name or ARN.
        name: String,
    },
    /// Delete a function.
    Delete {
        /// Name or ARN.
        name: String,
    },
}

pub(crate) fn run(cmd: FunctionsCommand, target: &Target) -> anyhow::Result<()> {
    let client = Client::new(target)?;
    match cmd {
        FunctionsCommand::List => {
            let mut marker: Option<String> = None;
            println!(
                "{:<40} {:<16} {:>6} {:>7}  {:<8} LAST MODIFIED",
                "NAME", "RUNTIME", "MEMORY", "TIMEOUT", "STATE"
            );
            loop {
                let path = match &marker {
                    Some(m) => format!("/2015-03-31/functions?Marker={}", segment(m)),
                    None => "/2015-03-31/functions".to_string(),
                };
                let page = client.call("GET", &path, None)?;
                for f in page
                    .get("Functions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let s = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
                    let n = |k: &str| f.get(k).and_then(Value::as_u64).unwrap_or(0);
                    println!(
                        "{:<40} {:<16} {:>6} {:>7}  {:<8} {}",
                        s("FunctionName"),
                        s("Runtime"),
                        n("MemorySize"),
                        n("Timeout"),
                        s("State"),
                        s("LastModified")
                    );
                }
                match page.get("NextMarker").and_then(Value::as_str) {
                    Some(m) => marker = Some(m.to_string()),
                    None => break,
                }
            }
        }
        FunctionsCommand::Get { name } => {
            let f = client.call(
                "GET",
                &format!("/2015-03-31/functions/{}", segment(&name)),
                None,
            )?;
            println!("{}", serde_json::to_string_pretty(&f)?);
        }
        FunctionsCommand::Delete { name } => {
            client.call(
                "DELETE",
                &format!("/2015-03-31/functions/{}", segment(&name)),
                None,
            )?;
            eprintln!("deleted {name}");
        }
    }
    Ok(())
}

/// `nimbus runtimes`.
pub(crate) fn runtimes(target: &Target) -> anyhow::Result<()> {
    let client = Client::new(target)?;
    let v = client.call("GET", "/_nimbus/runtimes", None)?;
    println!(
        "launcher: {}",
        v.get("Launcher").and_then(Value::as_str).unwrap_or("?")
    );
    for r in v
        .get("Runtimes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let available = r.get("Available").and_then(Value::as_bool).unwrap_or(false);
        println!(
            "{:<32} {}{}",
            s("Runtimes"),
            s("Program"),
            if available { "" } else { "  (not installed)" }
        );
        match r.get("Sdk").map(Value::as_object) {
            Some(Some(sdk)) => {
                let packages: Vec<String> = sdk
                    .get("Packages")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(n, v)| format!("{n} {}", v.as_str().unwrap_or("?")))
                    .collect();
                println!("{:<32}   SDK: {}", "", packages.join(", "));
            }
            Some(None) => println!("{:<32}   SDK: none (nimbus sdk install)", ""),
            None => {}
        }
    }
    Ok(())
}
