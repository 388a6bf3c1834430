//! `nimbus invoke NAME [--payload JSON] [--tail]`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use base64::Engine;

use crate::client::{segment, Client};
use crate::Target;

#[derive(clap::Args, Debug)]
pub(crate) struct InvokeArgs {
    /// Function name or ARN.
    name: String,
    /// The event, as JSON text.
    #[arg(long, conflicts_with = "payload_file")]
    payload: Option<String>,
    /// Read the event from a file.
    #[arg(long)]
    payload_file: Option<PathBuf>,
    /// Print the invocation's log (its last 4 KB) to stderr.
    #[arg(long)]
    tail: bool,
    /// Version or alias.
    #[arg(long)]
    qualifier: Option<String>,
    #[command(flatten)]
    target: Target,
}

/// Prints the result on stdout; a function error exits non-zero.
pub(crate) fn run(args: InvokeArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.target)?;
    let payload = match (&args.payload, &args.payload_file) {
        (Some(p), _) => p.clone().into_bytes(),
        (None, Some(f)) => std::fs::read(f).with_context(|| format!("read {}", f.display()))?,
        (None, None) => Vec::new(),
    };
    let mut path = format!("/2015-03-31/functions/{}/invocations", segment(&args.name));
    if let Some(q) = &args.qualifier {
        path.push_str(&format!("?Qualifier={}", segment(q)));
    }
    let mut headers = vec![("x-amz-invocation-type", "RequestResponse".to_string())];
    if args.tail {
        headers.push(("x-amz-log-type", "Tail".to_string()));
    }
    let resp = client.send("POST", &path, None, &headers, payload)?;
    if let Some(log) = resp
        .headers
        .get("x-amz-log-result")
        .and_then(|v| v.to_str().ok())
    {
        let text = base64::engine::general_purpose::STANDARD
            .decode(log)
            .unwrap_or_default();
        eprint!("{}", String::from_utf8_lossy(&text));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&resp.body)?;
    out.write_all(b"\n")?;
    if let Some(kind) = resp
        .headers
        .get("x-amz-function-error")
        .and_then(|v| v.to_str().ok())
    {
        anyhow::bail!("the function failed ({kind})");
    }
    Ok(())
}
