//! `nimbus`: the server (`nimbus serve`) and the client commands that drive one.
#![forbid(unsafe_code)]

mod client;
mod cost;
mod deploy;
mod functions;
mod invoke;
mod logs;
mod queues;
mod schedules;
mod sdk;
mod serve;
mod versions;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "nimbus",
    version,
    about = "Nimbus: a self-hosted, Lambda-compatible serverless platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a client command finds the server and its credentials.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Target {
    /// Server URL.
    #[arg(
        long,
        env = "NIMBUS_ENDPOINT",
        default_value = "http://127.0.0.1:9000",
        global = true
    )]
    endpoint: String,
    /// Region to sign for and to put in ARNs.
    #[arg(
        long,
        env = "NIMBUS_REGION",
        default_value = "us-east-1",
        global = true
    )]
    region: String,
    /// The server's data directory, whose `credentials` file holds the keys (when they are not
    /// in NIMBUS_ACCESS_KEY_ID / NIMBUS_SECRET_ACCESS_KEY).
    #[arg(long, env = "NIMBUS_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Create or update a function from a directory or a zip.
    Deploy(deploy::DeployArgs),
    /// Invoke a function and print its result.
    Invoke(invoke::InvokeArgs),
    /// Print a function's log events.
    Logs(logs::LogsArgs),
    /// What invocations were billed (GB-seconds, requests) and cost, from the ledger.
    Cost(cost::CostArgs),
    /// Publish a function's $LATEST as a new version.
    Publish(versions::PublishArgs),
    /// Point, list or delete aliases (weighted: --weight VERSION=SHARE).
    Alias(versions::AliasArgs),
    /// Show, set (--reserve N) or clear (--clear) a function's reserved concurrency.
    Concurrency(versions::ConcurrencyArgs),
    /// Install the AWS SDKs the runtimes provide (boto3, the JavaScript SDK v3).
    Sdk(sdk::SdkArgs),
    /// Show which program serves which runtime on the server, and its SDK.
    Runtimes {
        #[command(flatten)]
        target: Target,
    },
    /// Check a data directory's consistency (database and code packages).
    Check {
        /// The data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// List, peek at, send to, purge or redrive SQS queues.
    Queues {
        #[command(subcommand)]
        command: queues::QueuesCommand,
        #[command(flatten)]
        target: Target,
    },
    /// List, show, create or delete schedules (EventBridge Scheduler) that invoke functions.
    Schedules {
        #[command(subcommand)]
        command: schedules::SchedulesCommand,
        #[command(flatten)]
        target: Target,
    },
    /// List, show or delete functions.
    Functions {
        #[command(subcommand)]
        command: functions::FunctionsCommand,
        #[command(flatten)]
        target: Target,
    },
}

fn main() -> std::process::ExitCode {
    // The sandbox launcher re-executes this binary as its single-threaded helper: dispatch
    // before anything else runs (and before any thread exists).
    if std::env::args().nth(1).as_deref() == Some("sandbox-init") {
        nimbus_server::sandbox_init();
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Deploy(args) => deploy::run(args),
        Command::Functions { command, target } => functions::run(command, &target),
        Command::Queues { command, target } => queues::run(command, &target),
        Command::Schedules { command, target } => schedules::run(command, &target),
        Command::Check { data_dir } => serve::check(&data_dir),
        Command::Invoke(args) => invoke::run(args),
        Command::Logs(args) => logs::run(args),
        Command::Cost(args) => cost::run(args),
        Command::Runtimes { target } => functions::runtimes(&target),
        Command::Sdk(args) => sdk::run(args),
        Command::Publish(args) => versions::publish(args),
        Command::Alias(args) => versions::alias(args),
        Command::Concurrency(args) => versions::concurrency(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nimbus: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
