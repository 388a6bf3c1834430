//! A small signed HTTP client for the Lambda API of a Nimbus server.

use std::io::{IsTerminal, Read};
use std::time::SystemTime;

use anyhow::{bail, Context};
use nimbus_server::auth::{read_credentials_file, sign_request_for};
use nimbus_server::{Config, Credentials};
use serde_json::Value;

use crate::Target;

pub(crate) struct Client {
    http: reqwest::blocking::Client,
    endpoint: String,
    region: String,
    creds: Credentials,
}

/// An error the server answered with.
#[derive(Debug)]
pub(crate) struct ApiFailure {
    pub(crate) status: u16,
    pub(crate) error_type: String,
    pub(crate) message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.error_type, self.status, self.message)
    }
}

impl std::error::Error for ApiFailure {}

fn credentials(target: &Target) -> anyhow::Result<Credentials> {
    if let (Ok(id), Ok(secret)) = (
        std::env::var("NIMBUS_ACCESS_KEY_ID"),
        std::env::var("NIMBUS_SECRET_ACCESS_KEY"),
    ) {
        return Ok(Credentials {
            access_key_id: id,
            secret_access_key: secret,
        });
    }
    let config = Config {
        data_dir: target.data_dir.clone(),
        ..Config::default()
    };
    let path = config.data_dir().join("credentials");
    read_credentials_file(&path)?.with_context(|| {
        format!(
            "no credentials: set NIMBUS_ACCESS_KEY_ID and NIMBUS_SECRET_ACCESS_KEY, or point --data-dir at the server's data directory ({} does not exist)",
            path.display()
        )
    })
}

impl Client {
    pub(crate) fn new(target: &Target) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(900))
                .build()
                .context("build the HTTP client")?,
            endpoint: target.endpoint.trim_end_matches('/').to_string(),
            region: target.region.clone(),
            creds: credentials(target)?,
        })
    }

    /// Sends a signed request; the parsed JSON body, or the server's error as [`ApiFailure`].
    pub(crate) fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b)?,
            None => Vec::new(),
        };
        let content_type = body.map(|_| "application/json");
        let resp = self.send(method, path_and_query, content_type, &[], bytes)?;
        if resp.body.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&resp.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&resp.body).into_owned())))
    }

    /// Sends a signed request with raw bytes; fails with [`ApiFailure`] on an error status.
    pub(crate) fn send(
        &self,
        method: &str,
        path_and_query: &str,
        content_type: Option<&str>,
        extra_headers: &[(&str, String)],
        bytes: Vec<u8>,
    ) -> anyhow::Result<RawResponse> {
        let url = format!("{}{}", self.endpoint, path_and_query);
        let parsed = reqwest::Url::parse(&url).with_context(|| format!("bad endpoint {url}"))?;
        let host = match parsed.port() {
            Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or("localhost")),
            None => parsed.host_str().unwrap_or("localhost").to_string(),
        };
        let mut headers: Vec<(String, String)> = vec![("host".into(), host)];
        if let Some(ct) = content_type {
            headers.push(("content-type".into(), ct.into()));
        }
        for (k, v) in extra_headers {
            headers.push(((*k).to_string(), v.clone()));
        }
        // EventBridge Scheduler's paths are signed for its own service.
        let first = path_and_query
            .trim_start_matches('/')
            .split(['/', '?'])
            .next()
            .unwrap_or("");
        let service = match first {
            "schedules" | "schedule-groups" | "tags" => "scheduler",
            _ => "lambda",
        };
        let signed = sign_request_for(
            service,
            &self.creds,
            &self.region,
            method,
            &url,
            &headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            &bytes,
            SystemTime::now(),
        )?;
        let mut req = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes())?, parsed);
        for (k, v) in headers
            .iter()
            .filter(|(k, _)| k != "host")
            .chain(signed.iter())
        {
            req = req.header(k, v);
        }
        let len = bytes.len() as u64;
        let req = if len > 1 << 20 && std::io::stderr().is_terminal() {
            req.body(reqwest::blocking::Body::sized(
                Progress::new(bytes, len),
                len,
            ))
        } else {
            req.body(bytes)
        };
        let resp = req.send().with_context(|| format!("send {method} {url}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().context("read the response")?.to_vec();
        if status >= 400 {
            let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let message = value
                .get("message")
                .or_else(|| value.get("Message"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let error_type = headers
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("Error")
                .to_string();
            return Err(ApiFailure {
                status,
                error_type,
                message,
            }
            .into());
        }
        Ok(RawResponse { headers, body })
    }
}

/// A successful response, as received.
pub(crate) struct RawResponse {
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// Reports upload progress on the terminal.
struct Progress {
    inner: std::io::Cursor<Vec<u8>>,
    bar: indicatif::ProgressBar,
}

impl Progress {
    fn new(bytes: Vec<u8>, len: u64) -> Self {
        let bar = indicatif::ProgressBar::new(len);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "uploading {bar:40} {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Self {
            inner: std::io::Cursor::new(bytes),
            bar,
        }
    }
}

impl Read for Progress {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        if n == 0 {
            self.bar.finish_and_clear();
        }
        Ok(n)
    }
}

/// Percent-encodes a path segment.
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// True when the failure is a 404 ResourceNotFoundException.
pub(crate) fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiFailure>()
        .is_some_and(|f| f.status == 404)
}

/// Waits until the function is Active and its last update Successful.
pub(crate) fn wait_ready(client: &Client, name: &str) -> anyhow::Result<Value> {
    for _ in 0..300 {
        let c = client.call(
            "GET",
            &format!("/2015-03-31/functions/{}/configuration", segment(name)),
            None,
        )?;
        let state = c.get("State").and_then(Value::as_str).unwrap_or("");
        let update = c
            .get("LastUpdateStatus")
            .and_then(Value::as_str)
            .unwrap_or("");
        match (state, update) {
            ("Active", "Successful") => return Ok(c),
            ("Failed", _) | (_, "Failed") => bail!("function {name} failed: {c}"),
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
    bail!("function {name} did not become ready within 30 s")
}
