//! `nimbus publish`, `nimbus alias set|list|delete`, `nimbus concurrency`: versions, aliases
//! and reserved concurrency through the Lambda API.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use crate::client::{segment, Client};
use crate::Target;

/// `nimbus publish`.
#[derive(Args, Debug)]
pub(crate) struct PublishArgs {
    /// Function name or ARN.
    name: String,
    /// The version's description (default: the function's).
    #[arg(long)]
    description: Option<String>,
    #[command(flatten)]
    target: Target,
}

pub(crate) fn publish(args: PublishArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.target)?;
    let mut body = json!({});
    if let Some(d) = &args.description {
        body["Description"] = json!(d);
    }
    let v = client.call(
        "POST",
        &format!("/2015-03-31/functions/{}/versions", segment(&args.name)),
        Some(&body),
    )?;
    println!(
        "published {} version {}",
        args.name,
        v.get("Version").and_then(Value::as_str).unwrap_or("?")
    );
    Ok(())
}

/// `nimbus alias`.
#[derive(Args, Debug)]
pub(crate) struct AliasArgs {
    #[command(subcommand)]
    command: AliasCommand,
    #[command(flatten)]
    target: Target,
}

#[derive(Subcommand, Debug)]
enum AliasCommand {
    /// Point an alias at a version (creating it if need be), optionally sending a share of
    /// invocations to one more: `--weight 3=0.2`.
    Set {
        /// Function name or ARN.
        function: String,
        /// The alias.
        name: String,
        /// `$LATEST` or a version number.
        version: String,
        /// `VERSION=WEIGHT`, the share (0 to 1) of invocations the other version gets.
        #[arg(long)]
        weight: Option<String>,
    },
    /// List a function's aliases.
    List {
        /// Function name or ARN.
        function: String,
    },
    /// Delete an alias.
    Delete {
        /// Function name or ARN.
        function: String,
        /// The alias.
        name: String,
    },
}

/// `VERSION=WEIGHT` as AdditionalVersionWeights.
fn weights(spec: Option<&str>) -> anyhow::Result<Map<String, Value>> {
    let mut m = Map::new();
    if let Some(s) = spec {
        let (v, w) = s
            .split_once('=')
            .with_context(|| format!("--weight {s}: expected VERSION=WEIGHT, e.g. 3=0.2"))?;
        let w: f64 = w
            .parse()
            .with_context(|| format!("--weight {s}: {w} is not a number"))?;
        m.insert(v.to_string(), json!(w));
    }
    Ok(m)
}

pub(crate) fn alias(args: AliasArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.target)?;
    match args.command {
        AliasCommand::Set {
            function,
            name,
            version,
            weight,
        } => {
            let routing = json!({ "AdditionalVersionWeights": weights(weight.as_deref())? });
            let base = format!("/2015-03-31/functions/{}/aliases", segment(&function));
            let update = client.call(
                "PUT",
                &format!("{base}/{}", segment(&name)),
                Some(&json!({ "FunctionVersion": version, "RoutingConfig": routing })),
            );
            let a = match update {
                Ok(a) => a,
                Err(e) if crate::client::is_not_found(&e) => client.call(
                    "POST",
                    &base,
                    Some(&json!({ "Name": name, "FunctionVersion": version, "RoutingConfig": routing })),
                )?,
                Err(e) => return Err(e),
            };
            print_alias(&a);
        }
        AliasCommand::List { function } => {
            let mut marker: Option<String> = None;
            loop {
                let mut path = format!("/2015-03-31/functions/{}/aliases", segment(&function));
                if let Some(m) = &marker {
                    path.push_str(&format!("?Marker={}", segment(m)));
                }
                let page = client.call("GET", &path, None)?;
                for a in page
                    .get("Aliases")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    print_alias(a);
                }
                match page.get("NextMarker").and_then(Value::as_str) {
                    Some(m) => marker = Some(m.to_string()),
                    None => break,
                }
            }
        }
        AliasCommand::Delete { function, name } => {
            client.call(
                "DELETE",
                &format!(
                    "/2015-03-31/functions/{}/aliases/{}",
                    segment(&function),
                    segment(&name)
                ),
                None,
            )?;
            println!("deleted alias {name}");
        }
    }
    Ok(())
}

fn print_alias(a: &Value) {
    let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("-");
    let extra: Vec<String> = a
        .pointer("/RoutingConfig/AdditionalVersionWeights")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(v, w)| format!("{v}={w}"))
        .collect();
    if extra.is_empty() {
        println!("{} -> {}", s("Name"), s("FunctionVersion"));
    } else {
        println!(
            "{} -> {} (+ {})",
            s("Name"),
            s("FunctionVersion"),
            extra.join(", ")
        );
    }
}

/// `nimbus concurrency`.
#[derive(Args, Debug)]
pub(crate) struct ConcurrencyArgs {
    /// Function name or ARN.
    name: String,
    /// Reserve this many concurrent executions (0 throttles every invocation).
    #[arg(long, conflicts_with = "clear")]
    reserve: Option<u32>,
    /// Remove the reservation.
    #[arg(long)]
    clear: bool,
    #[command(flatten)]
    target: Target,
}

pub(crate) fn concurrency(args: ConcurrencyArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.target)?;
    let name = segment(&args.name);
    match (args.reserve, args.clear) {
        (Some(n), false) => {
            client.call(
                "PUT",
                &format!("/2017-10-31/functions/{name}/concurrency"),
                Some(&json!({ "ReservedConcurrentExecutions": n })),
            )?;
        }
        (None, true) => {
            client.call(
                "DELETE",
                &format!("/2017-10-31/functions/{name}/concurrency"),
                None,
            )?;
        }
        (None, false) => {}
        (Some(_), true) => bail!("--reserve and --clear together"),
    }
    let c = client.call(
        "GET",
        &format!("/2019-09-30/functions/{name}/concurrency"),
        None,
    )?;
    match c
        .get("ReservedConcurrentExecutions")
        .and_then(Value::as_u64)
    {
        Some(n) => println!("{}: {n} reserved", args.name),
        None => println!(
            "{}: none reserved (uses the account's unreserved concurrency)",
            args.name
        ),
    }
    Ok(())
}
