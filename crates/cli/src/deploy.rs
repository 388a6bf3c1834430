//! `nimbus deploy`: zips a directory (or takes a zip) and creates or updates the function.

use std::io::{Cursor, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use base64::Engine;
use serde_json::{json, Map, Value};
use zip::write::SimpleFileOptions;

use crate::client::{is_not_found, segment, wait_ready, Client};
use crate::Target;

#[derive(clap::Args, Debug)]
pub(crate) struct DeployArgs {
    /// Function name.
    name: String,
    /// Runtime id, e.g. python3.12, nodejs20.x, provided.al2023 (required to create).
    #[arg(long)]
    runtime: Option<String>,
    /// Handler, e.g. app.handler (required to create).
    #[arg(long)]
    handler: Option<String>,
    /// A directory to zip, or a .zip file.
    #[arg(long)]
    code: PathBuf,
    /// Memory in MB (128-10240).
    #[arg(long)]
    memory: Option<u32>,
    /// Timeout in seconds (1-900).
    #[arg(long)]
    timeout: Option<u32>,
    /// Environment variable KEY=VALUE; repeat for more. Replaces the whole set.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Execution role ARN.
    #[arg(long, default_value = "arn:aws:iam::000000000000:role/nimbus-function")]
    role: String,
    #[command(flatten)]
    target: Target,
}

/// Zips `dir` deterministically: sorted names, fixed timestamps, permissions kept, so that the
/// same tree always gives the same CodeSha256.
pub(crate) fn zip_dir(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort();
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for rel in files {
        let path = dir.join(&rel);
        let name = rel.to_string_lossy().to_string();
        let meta = std::fs::symlink_metadata(&path)?;
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(meta.permissions().mode() & 0o777);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)?;
            w.add_symlink(name, target.to_string_lossy(), opts)?;
        } else {
            w.start_file(name, opts)?;
            w.write_all(
                &std::fs::read(&path).with_context(|| format!("read {}", path.display()))?,
            )?;
        }
    }
    Ok(w.finish()?.into_inner())
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let path = entry.path();
        if ty.is_dir() {
            collect(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root)?.to_path_buf());
        }
    }
    Ok(())
}

pub(crate) fn run(args: DeployArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.target)?;
    let zip = if args.code.is_dir() {
        zip_dir(&args.code)?
    } else {
        std::fs::read(&args.code).with_context(|| format!("read {}", args.code.display()))?
    };
    let zip_b64 = base64::engine::general_purpose::STANDARD.encode(&zip);
    let mut settings = Map::new();
    if let Some(r) = &args.runtime {
        settings.insert("Runtime".into(), json!(r));
    }
    if let Some(h) = &args.handler {
        settings.insert("Handler".into(), json!(h));
    }
    if let Some(m) = args.memory {
        settings.insert("MemorySize".into(), json!(m));
    }
    if let Some(t) = args.timeout {
        settings.insert("Timeout".into(), json!(t));
    }
    if !args.env.is_empty() {
        let mut vars = Map::new();
        for kv in &args.env {
            let Some((k, v)) = kv.split_once('=') else {
                bail!("--env expects KEY=VALUE, got {kv:?}");
            };
            vars.insert(k.into(), json!(v));
        }
        settings.insert("Environment".into(), json!({ "Variables": vars }));
    }
    let path = format!("/2015-03-31/functions/{}", segment(&args.name));
    let existing = match client.call("GET", &format!("{path}/configuration"), None) {
        Ok(c) => Some(c),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(e),
    };
    let config = match existing {
        None => {
            let mut body = settings;
            body.insert("FunctionName".into(), json!(args.name));
            body.insert("Role".into(), json!(args.role));
            body.insert("Code".into(), json!({ "ZipFile": zip_b64 }));
            client.call("POST", "/2015-03-31/functions", Some(&Value::Object(body)))?;
            let c = wait_ready(&client, &args.name)?;
            eprintln!("created {}", args.name);
            c
        }
        Some(current) => {
            let sha = base64::engine::general_purpose::STANDARD
                .encode(<sha2::Sha256 as sha2::Digest>::digest(&zip));
            if current.get("CodeSha256").and_then(Value::as_str) != Some(sha.as_str()) {
                client.call(
                    "PUT",
                    &format!("{path}/code"),
                    Some(&json!({ "ZipFile": zip_b64 })),
                )?;
                wait_ready(&client, &args.name)?;
                eprintln!("updated the code of {}", args.name);
            }
            if !settings.is_empty() {
                client.call(
                    "PUT",
                    &format!("{path}/configuration"),
                    Some(&Value::Object(settings)),
                )?;
                eprintln!("updated the configuration of {}", args.name);
            }
            wait_ready(&client, &args.name)?
        }
    };
    println!("{}", serde_json::to_string_pretty(&config)?);
    Ok(())
}
