//! `nimbus serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use nimbus_server::{Config, Server};

#[derive(clap::Args, Debug)]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:9000].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Where function URLs are served: host:port [default: 127.0.0.1:9001], `api` (on the
    /// API's listener) or `off`.
    #[arg(long)]
    url_listen: Option<String>,
    /// Data directory [default: $XDG_DATA_HOME/nimbus or ~/.local/share/nimbus].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Root access key id (else generated on first start).
    #[arg(long, env = "NIMBUS_ACCESS_KEY_ID")]
    access_key_id: Option<String>,
    /// A file holding the root secret access key (else the NIMBUS_SECRET_ACCESS_KEY
    /// variable). Never on the command line, where every user of the machine can read it.
    #[arg(long, env = "NIMBUS_SECRET_ACCESS_KEY_FILE")]
    secret_access_key_file: Option<PathBuf>,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NIMBUS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(u) = &args.url_listen {
        config.function_urls.listen = nimbus_server::config::UrlListen::parse(u)?;
    }
    if let Some(d) = args.data_dir {
        config.data_dir = Some(d);
    }
    let secret = match &args.secret_access_key_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("read the secret access key from {}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => std::env::var("NIMBUS_SECRET_ACCESS_KEY")
            .ok()
            .filter(|s| !s.is_empty()),
    };
    if args.access_key_id.is_some() || secret.is_some() {
        config.access_key_id = args.access_key_id;
        config.secret_access_key = secret.map(nimbus_server::Secret);
    }
    config.validate()?;
    nimbus_server::prepare_process(&config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    rt.block_on(async move {
        // Handlers first, so that a signal sent as soon as we say we listen is not lost.
        let shutdown = shutdown_signal()?;
        let server = Server::bind(config).await?;
        let s = server.started().clone();
        tracing::info!(addr = %s.addr, data_dir = %s.data_dir.display(), "nimbus is listening");
        if let Some(file) = &s.credentials_file {
            if s.generated {
                eprintln!("Generated credentials in {} (profile `nimbus`).", file.display());
            }
            eprintln!(
                "Use them with: AWS_SHARED_CREDENTIALS_FILE={} aws --profile nimbus --region us-east-1 --endpoint-url http://{} lambda list-functions",
                file.display(),
                s.addr
            );
        }
        // Machine-readable lines for scripts and tests: the API's address, then the URLs'.
        // One write of both (`print!` would hand stdout's line buffer each line apart), so that
        // a reader that takes the first line and closes the pipe never makes a later write of
        // ours fail; and a stdout that went away is no reason for the server to stop.
        let urls = s
            .url_addr
            .map_or_else(|| "function urls off".to_string(), |a| format!("function urls on {a}"));
        let announce = format!("listening on {}\n{urls}\n", s.addr);
        let mut out = std::io::stdout().lock();
        let _ = std::io::Write::write_all(&mut out, announce.as_bytes())
            .and_then(|()| std::io::Write::flush(&mut out));
        drop(out);
        server.serve(shutdown).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}

fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("install the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
}

/// `nimbus check`: prints each problem found; fails if there is any.
pub(crate) fn check(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let problems = rt.block_on(nimbus_server::check_data_dir(data_dir))?;
    for p in &problems {
        println!("{p}");
    }
    if !problems.is_empty() {
        anyhow::bail!("{} problem(s) in {}", problems.len(), data_dir.display());
    }
    println!("ok: {} is consistent", data_dir.display());
    Ok(())
}
