//! A real Nimbus server on 127.0.0.1:0 with SQLite in a temporary directory, and a signed client.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine;
use nimbus_server::auth::{sign_request, sign_request_for};
use nimbus_server::{Config, Credentials, Server};
use serde_json::{json, Value};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "000000000000";
pub const ROLE: &str = "arn:aws:iam::000000000000:role/lambda-role";

pub fn creds() -> Credentials {
    Credentials {
        access_key_id: "NKIATESTTESTTEST0001".into(),
        secret_access_key: "test-secret-key-0123456789abcdefghijklmn".into(),
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// Where function URLs are served.
    pub url_addr: Option<SocketAddr>,
    pub dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    http: reqwest::blocking::Client,
}

pub struct Resp {
    pub status: u16,
    pub error_type: Option<String>,
    pub body: Value,
    pub raw: Vec<u8>,
    /// Response headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Resp {
    /// The value of response header `name` (lower case).
    #[allow(dead_code)]
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// `x-amzn-ErrorType`, or `""`.
    #[allow(dead_code)]
    pub fn error_type(&self) -> &str {
        self.error_type.as_deref().unwrap_or("")
    }

    /// The error message, whichever case of member carries it.
    pub fn message(&self) -> &str {
        self.body
            .get("message")
            .or_else(|| self.body.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// Asserts an AWS error: status, `x-amzn-ErrorType` and exact message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, error_type: &str, message: &str) {
        assert_eq!(
            (self.status, self.error_type.as_deref(), self.message()),
            (status, Some(error_type), message),
            "body: {}",
            self.body
        );
    }
}

impl TestServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir)
    }

    pub fn start_in(dir: tempfile::TempDir) -> Self {
        Self::start_with(dir, |_| {})
    }

    /// A server whose configuration `adjust` changes from the tests' default.
    pub fn start_with(dir: tempfile::TempDir, adjust: impl FnOnce(&mut Config)) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let c = creds();
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            function_urls: nimbus_server::config::FunctionUrlsSection {
                listen: nimbus_server::config::UrlListen::Addr(
                    "127.0.0.1:0".parse().expect("addr"),
                ),
                ..Default::default()
            },
            data_dir: Some(dir.path().join("data")),
            access_key_id: Some(c.access_key_id),
            secret_access_key: Some(nimbus_server::Secret(c.secret_access_key)),
            // In-process servers cannot re-execute a `nimbus` binary: the sandbox is tested
            // end to end with the real binary (crates/cli/tests/isolation.rs).
            launcher: nimbus_server::config::LauncherKind::Process,
            ..Config::default()
        };
        let mut config = config;
        adjust(&mut config);
        let server = rt.block_on(Server::bind(config)).expect("server starts");
        let addr = server.started().addr;
        let url_addr = server.started().url_addr;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(server.serve(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            url_addr,
            dir,
            rt,
            stop: Some(tx),
            http: reqwest::blocking::Client::new(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    /// A request signed with the server's credentials, now.
    pub fn call(&self, method: &str, path_and_query: &str, body: &[u8]) -> Resp {
        self.call_as(&creds(), SystemTime::now(), method, path_and_query, body)
    }

    pub fn call_json(&self, method: &str, path_and_query: &str, body: &Value) -> Resp {
        self.call(
            method,
            path_and_query,
            &serde_json::to_vec(body).expect("json"),
        )
    }

    pub fn call_as(
        &self,
        creds: &Credentials,
        at: SystemTime,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Resp {
        self.call_signed(creds, at, method, path_and_query, body, &[])
    }

    /// A request with `headers` besides, signed with them.
    pub fn call_with_headers(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Resp {
        self.call_signed(
            &creds(),
            SystemTime::now(),
            method,
            path_and_query,
            body,
            headers,
        )
    }

    /// A signed Lambda request whose response is returned unread (to read a stream as it
    /// comes).
    #[allow(dead_code)]
    pub fn call_unread(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> reqwest::blocking::Response {
        self.signed(
            "lambda",
            &creds(),
            SystemTime::now(),
            method,
            path_and_query,
            body,
            headers,
        )
        .send()
        .expect("request")
    }

    /// A request signed for `service`, ready to send.
    #[allow(clippy::too_many_arguments)]
    fn signed(
        &self,
        service: &str,
        creds: &Credentials,
        at: SystemTime,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> reqwest::blocking::RequestBuilder {
        let url = self.url(path_and_query);
        let host = self.addr.to_string();
        let mut signed_headers = vec![("host", host.as_str())];
        signed_headers.extend_from_slice(headers);
        let signed = sign_request_for(
            service,
            creds,
            REGION,
            method,
            &url,
            &signed_headers,
            body,
            at,
        )
        .expect("sign");
        let mut req = self
            .http
            .request(method.parse().expect("method"), &url)
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        for (k, v) in signed {
            req = req.header(k, v);
        }
        req
    }

    /// A JSON-protocol request (`POST /`, `X-Amz-Target: <target>`) signed for `service`.
    #[allow(dead_code)]
    pub fn call_json_target(&self, service: &str, target: &str, body: &Value) -> Resp {
        let body = serde_json::to_vec(body).expect("json");
        self.call_signed_for(
            service,
            &creds(),
            SystemTime::now(),
            "POST",
            "/",
            &body,
            &[
                ("x-amz-target", target),
                ("content-type", "application/x-amz-json-1.1"),
            ],
        )
    }

    /// A request to EventBridge Scheduler's API (signed for `scheduler`).
    #[allow(dead_code)]
    pub fn call_scheduler(&self, method: &str, path_and_query: &str, body: &Value) -> Resp {
        let body = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).expect("json")
        };
        self.call_signed_for(
            "scheduler",
            &creds(),
            SystemTime::now(),
            method,
            path_and_query,
            &body,
            &[],
        )
    }

    fn call_signed(
        &self,
        creds: &Credentials,
        at: SystemTime,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Resp {
        self.call_signed_for("lambda", creds, at, method, path_and_query, body, headers)
    }

    #[allow(clippy::too_many_arguments)]
    fn call_signed_for(
        &self,
        service: &str,
        creds: &Credentials,
        at: SystemTime,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Resp {
        let resp = self
            .signed(service, creds, at, method, path_and_query, body, headers)
            .send()
            .expect("request");
        let status = resp.status().as_u16();
        let error_type = resp
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let raw = resp.bytes().expect("body").to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Resp {
            status,
            error_type,
            body,
            raw,
            headers,
        }
    }

    /// Invokes `target` (a name, with `?Qualifier=` if wanted): the status, the
    /// `X-Amz-Executed-Version` header and the body.
    pub fn invoke_at(&self, target: &str, payload: &Value) -> (u16, Option<String>, Value) {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, format!("?{q}")),
            None => (target, String::new()),
        };
        let url = self.url(&format!("/2015-03-31/functions/{path}/invocations{query}"));
        let body = serde_json::to_vec(payload).expect("json");
        let host = self.addr.to_string();
        let signed = sign_request(
            &creds(),
            REGION,
            "POST",
            &url,
            &[("host", &host)],
            &body,
            SystemTime::now(),
        )
        .expect("sign");
        let mut req = self.http.post(&url).body(body);
        for (k, v) in signed {
            req = req.header(k, v);
        }
        let resp = req.send().expect("invoke");
        let status = resp.status().as_u16();
        let version = resp
            .headers()
            .get("x-amz-executed-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let raw = resp.bytes().expect("body");
        (
            status,
            version,
            serde_json::from_slice(&raw).unwrap_or(Value::Null),
        )
    }

    pub fn unsigned_get(&self, path: &str) -> (u16, Vec<u8>) {
        let r = self.http.get(self.url(path)).send().expect("request");
        (r.status().as_u16(), r.bytes().expect("body").to_vec())
    }

    /// Creates a Python function from `zip` and waits until it is Active.
    pub fn create(&self, name: &str, zip: &[u8]) -> Value {
        let r = self.call_json("POST", "/2015-03-31/functions", &create_body(name, zip));
        assert_eq!(r.status, 201, "{}", r.body);
        self.wait_active(name)
    }

    pub fn wait_active(&self, name: &str) -> Value {
        for _ in 0..200 {
            let r = self.call(
                "GET",
                &format!("/2015-03-31/functions/{name}/configuration"),
                b"",
            );
            if r.body["State"] == "Active" && r.body["LastUpdateStatus"] == "Successful" {
                return r.body;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{name} never became Active");
    }

    pub fn function_count(&self) -> usize {
        let r = self.call("GET", "/2015-03-31/functions", b"");
        r.body["Functions"].as_array().map_or(0, Vec::len)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
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

pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("start");
        w.write_all(data).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

pub fn hello_zip() -> Vec<u8> {
    zip_of(&[(
        "app.py",
        b"def handler(event, context):\n    return event\n",
    )])
}

/// Every regular file and link under `root`, relative.
pub fn tree(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                _ => out.push(p.strip_prefix(root).expect("under root").to_path_buf()),
            }
        }
    }
    out.sort();
    out
}
