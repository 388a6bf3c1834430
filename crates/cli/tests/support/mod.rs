//! The real `nimbus` binary as a child process, real clients (AWS CLI, boto3) pointed at it, and a
//! small signed client for setting up state quickly.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use base64::Engine;
use nimbus_server::auth::sign_request;
use nimbus_server::Credentials;
use serde_json::{json, Value};

pub const ROLE: &str = "arn:aws:iam::000000000000:role/lambda-role";

pub fn creds() -> Credentials {
    Credentials {
        access_key_id: "NKIAE2EE2EE2EE2E0001".into(),
        secret_access_key: "e2e-secret-key-0123456789abcdefghijklmno".into(),
    }
}

pub fn nimbus() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nimbus"))
}

/// `nimbus serve` on 127.0.0.1:0 (API and URLs) over `data_dir`, with `config` if given, and
/// the test credentials.
pub fn serve_command(data_dir: &Path, config: Option<&Path>) -> Command {
    let c = creds();
    let mut cmd = nimbus();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--url-listen",
        "127.0.0.1:0",
    ]);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    cmd.arg("--data-dir")
        .arg(data_dir)
        .env("NIMBUS_ACCESS_KEY_ID", &c.access_key_id)
        .env("NIMBUS_SECRET_ACCESS_KEY", &c.secret_access_key);
    cmd
}

pub struct NimbusProcess {
    pub addr: SocketAddr,
    /// Where function URLs are served, if they are.
    pub url_addr: Option<SocketAddr>,
    pub data_dir: PathBuf,
    child: Child,
}

impl NimbusProcess {
    /// Starts `nimbus serve` on 127.0.0.1:0 over `data_dir` with the test credentials.
    pub fn start(data_dir: &Path) -> Self {
        Self::spawn(serve_command(data_dir, None), data_dir)
    }

    /// [`Self::start`], with the configuration file `config`.
    pub fn start_with_config(data_dir: &Path, config: &Path) -> Self {
        Self::spawn(serve_command(data_dir, Some(config)), data_dir)
    }

    /// Starts `nimbus serve` with whatever credentials it finds or generates.
    pub fn spawn(cmd: Command, data_dir: &Path) -> Self {
        Self::spawn_with_stderr(cmd, data_dir, Stdio::inherit())
    }

    /// [`Self::spawn`], its log (`NIMBUS_LOG`, `warn` unless the command sets it) to `stderr`.
    pub fn spawn_with_stderr(mut cmd: Command, data_dir: &Path, stderr: Stdio) -> Self {
        if !cmd.get_envs().any(|(k, _)| k == "NIMBUS_LOG") {
            cmd.env("NIMBUS_LOG", "warn");
        }
        cmd.stdout(Stdio::piped()).stderr(stderr);
        let mut child = cmd.spawn().expect("spawn nimbus serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        reader
            .read_line(&mut line)
            .expect("read the listening line");
        let mut second = String::new();
        reader.read_line(&mut second).expect("read the urls line");
        let url_addr = second
            .trim()
            .strip_prefix("function urls on ")
            .and_then(|a| a.parse().ok());
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("address");
        Self {
            addr,
            url_addr,
            data_dir: data_dir.to_path_buf(),
            child,
        }
    }

    /// The server's host pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL, no warning.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A signed API call with the test credentials.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        call(self.addr, method, path, body)
    }
}

impl Drop for NimbusProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

impl NimbusProcess {
    /// SIGTERM, as an operator would stop it (its environments end with it), then SIGKILL if it
    /// has not stopped within 10 s.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
    }
}

pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    call_on(&client, addr, method, path, body, &[])
}

/// [`call`] on `client` (its connections reused), with `headers` besides, signed with them.
pub fn call_on(
    client: &reqwest::blocking::Client,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Result<(u16, Value), String> {
    let bytes = body
        .map(|b| serde_json::to_vec(b).expect("json"))
        .unwrap_or_default();
    let url = format!("http://{addr}{path}");
    let host = addr.to_string();
    let mut to_sign = vec![("host", host.as_str())];
    to_sign.extend_from_slice(headers);
    let signed = sign_request(
        &creds(),
        "us-east-1",
        method,
        &url,
        &to_sign,
        &bytes,
        SystemTime::now(),
    )
    .map_err(|e| e.to_string())?;
    let mut req = client
        .request(method.parse().map_err(|_| "method".to_string())?, &url)
        .body(bytes);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    for (k, v) in signed {
        req = req.header(k, v);
    }
    let resp = req.send().map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let raw = resp.bytes().map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_slice(&raw).unwrap_or(Value::Null)))
}

pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("start");
        w.write_all(data).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

pub fn python_zip(body: &str) -> Vec<u8> {
    zip_of(&[(
        "app.py",
        format!("def handler(event, context):\n    return {body}\n").as_bytes(),
    )])
}

pub fn create_body(name: &str, zip: &[u8]) -> Value {
    json!({
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) },
    })
}

pub fn sha256_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

/// The AWS CLI the test script installs (Debian's `awscli`). Its absence is a failure, not a skip.
pub fn aws_cli() -> PathBuf {
    let p =
        PathBuf::from(std::env::var("NIMBUS_TEST_AWS").unwrap_or_else(|_| "/usr/bin/aws".into()));
    assert!(
        p.exists(),
        "the AWS CLI is missing at {}: run ./scripts/test.sh, which installs it",
        p.display()
    );
    p
}

/// A Python with boto3, as the test script prepares it.
pub fn python_with_boto3() -> PathBuf {
    let p = std::env::var("NIMBUS_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-test/bin/python")
        });
    let ok = Command::new(&p)
        .args(["-c", "import boto3"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no Python with boto3 at {}: run ./scripts/test.sh, which installs it",
        p.display()
    );
    p
}

/// Environment for a real AWS client pointed at `server` with the test credentials.
pub fn client_env(cmd: &mut Command, server: &NimbusProcess, home: &Path) {
    let c = creds();
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", &c.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &c.secret_access_key)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_PAGER", "")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_ENDPOINT_URL", server.endpoint())
        .env("NIMBUS_ENDPOINT", server.endpoint());
}

/// Runs the AWS CLI against `server`; returns its output.
pub fn aws(server: &NimbusProcess, home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(aws_cli());
    client_env(&mut cmd, server, home);
    cmd.arg("--endpoint-url").arg(server.endpoint());
    cmd.args(args).output().expect("run aws")
}

/// Runs the AWS CLI and parses its JSON output; panics with its stderr on failure.
#[track_caller]
pub fn aws_json(server: &NimbusProcess, home: &Path, args: &[&str]) -> Value {
    let out = aws(server, home, args);
    assert!(
        out.status.success(),
        "aws {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(&out.stdout).expect("aws printed JSON")
}
