//! Web frameworks behind their Lambda adapters, unmodified, on function URLs of the real
//! binary (sandbox launcher, MemorySize 128): FastAPI with Mangum and Express with
//! serverless-http, vendored into the function zip as users deploy them (scripts/test.sh
//! installs the pinned packages of tests/compat/web/), driven by a plain HTTP client by host
//! name and by path: path and query parameters, cookies both ways, a binary body both ways and
//! custom status codes.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use support::NimbusProcess;

const ROLE: &str = "arn:aws:iam::000000000000:role/web";

/// Where scripts/test.sh installed the frameworks. Their absence is a failure, not a skip.
fn web_dir() -> PathBuf {
    let p = std::env::var("NIMBUS_TEST_WEB")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.web-test"));
    assert!(
        p.join("python/mangum").is_dir() && p.join("node_modules/serverless-http").is_dir(),
        "no vendored web frameworks under {}: run ./scripts/test.sh, which installs them",
        p.display()
    );
    p
}

/// Every file under `dir`, named `prefix` + its path below `dir` (caches and scripts left out).
fn files(dir: &Path, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            let name = e.file_name();
            if name == "__pycache__" || (d == dir && name == "bin") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() {
                let rel = p.strip_prefix(dir).expect("under").to_string_lossy();
                out.push((format!("{prefix}{rel}"), std::fs::read(&p).expect("read")));
            }
        }
    }
}

fn zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(name.as_str(), opts).expect("start");
        w.write_all(data).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

fn app_source(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/compat/web/apps")
            .join(name),
    )
    .expect("app source")
}

/// Deploys `zip` as `name`, waits until it is Active, gives it a public URL; returns the URL.
fn deploy(server: &NimbusProcess, name: &str, runtime: &str, handler: &str, zip: &[u8]) -> String {
    let body = json!({
        "FunctionName": name, "Runtime": runtime, "Role": ROLE, "Handler": handler,
        "Timeout": 30, "MemorySize": 128,
        "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) },
    });
    let (status, resp) = server
        .call("POST", "/2015-03-31/functions", Some(&body))
        .expect("create");
    assert_eq!(status, 201, "{resp}");
    for _ in 0..600 {
        let (_, c) = server
            .call(
                "GET",
                &format!("/2015-03-31/functions/{name}/configuration"),
                None,
            )
            .expect("get");
        if c["State"] == "Active" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, url) = server
        .call(
            "POST",
            &format!("/2021-10-31/functions/{name}/url"),
            Some(&json!({ "AuthType": "NONE" })),
        )
        .expect("create url");
    assert_eq!(status, 201, "{url}");
    for statement in [
        json!({ "StatementId": "url", "Action": "lambda:InvokeFunctionUrl", "Principal": "*", "FunctionUrlAuthType": "NONE" }),
        json!({ "StatementId": "invoke", "Action": "lambda:InvokeFunction", "Principal": "*", "InvokedViaFunctionUrl": true }),
    ] {
        let (status, r) = server
            .call(
                "POST",
                &format!("/2015-03-31/functions/{name}/policy"),
                Some(&statement),
            )
            .expect("add permission");
        assert_eq!(status, 201, "{r}");
    }
    url["FunctionUrl"].as_str().expect("url").to_string()
}

/// How a request reaches the URL: by host name (sent in `Host`, the connection to the URL
/// listener on loopback) or by `/lambda-url/<id>` path.
#[derive(Debug, Clone, Copy)]
enum Via {
    Host,
    Path,
}

struct Target {
    addr: std::net::SocketAddr,
    host: String,
    id: String,
}

impl Target {
    fn new(server: &NimbusProcess, url: &str) -> Self {
        let host = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let id = host.split('.').next().expect("id").to_string();
        Self {
            addr: server.url_addr.expect("function urls are served"),
            host,
            id,
        }
    }

    fn request(
        &self,
        http: &reqwest::blocking::Client,
        via: Via,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        match via {
            Via::Host => http
                .request(method, format!("http://{}{path}", self.addr))
                .header("host", &self.host),
            Via::Path => http.request(
                method,
                format!("http://{}/lambda-url/{}{path}", self.addr, self.id),
            ),
        }
    }
}

/// The four requests every framework must answer alike.
fn exercise(label: &str, t: &Target) {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    for via in [Via::Host, Via::Path] {
        let what = format!("{label} via {via:?}");
        let r = t
            .request(
                &http,
                via,
                reqwest::Method::GET,
                "/items/42?q=hello%20world",
            )
            .header("cookie", "session=s1; other=x")
            .send()
            .expect("get");
        let status = r.status().as_u16();
        let body: Value = serde_json::from_slice(&r.bytes().expect("body")).unwrap_or(Value::Null);
        assert_eq!(status, 200, "{what}: {body}");
        assert_eq!(
            body,
            json!({ "item_id": 42, "q": "hello world", "session": "s1" }),
            "{what}"
        );

        let r = t
            .request(&http, via, reqwest::Method::POST, "/items")
            .header("content-type", "application/json")
            .body(r#"{"name":"widget","n":3}"#)
            .send()
            .expect("post");
        assert_eq!(r.status().as_u16(), 201, "{what}");
        let set: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        assert!(
            set.iter().any(|c| c.starts_with("made=yes"))
                && set.iter().any(|c| c.starts_with("flavour=mint")),
            "{what}: two cookies set, one header each: {set:?}"
        );
        let body: Value = serde_json::from_slice(&r.bytes().expect("body")).expect("json");
        assert_eq!(
            body,
            json!({ "created": { "name": "widget", "n": 3 } }),
            "{what}"
        );

        let bytes: Vec<u8> = (0u8..=255).cycle().take(3000).collect();
        let r = t
            .request(&http, via, reqwest::Method::POST, "/reverse")
            .header("content-type", "application/octet-stream")
            .body(bytes.clone())
            .send()
            .expect("binary");
        assert_eq!(r.status().as_u16(), 200, "{what}");
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/octet-stream"),
            "{what}"
        );
        let got = r.bytes().expect("body").to_vec();
        let mut want = bytes;
        want.reverse();
        assert!(got == want, "{what}: the binary body came back reversed");

        let r = t
            .request(&http, via, reqwest::Method::GET, "/teapot")
            .send()
            .expect("teapot");
        assert_eq!(r.status().as_u16(), 418, "{what}");
        let body: Value = serde_json::from_slice(&r.bytes().expect("body")).expect("json");
        assert_eq!(body, json!({ "short": "stout" }), "{what}");
    }
}

#[test]
fn fastapi_behind_mangum_and_express_behind_serverless_http() {
    let web = web_dir();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));

    let mut py = Vec::new();
    files(&web.join("python"), "", &mut py);
    py.push(("fastapi_app.py".into(), app_source("fastapi_app.py")));
    let py_url = deploy(
        &server,
        "fastapi",
        "python3.12",
        "fastapi_app.handler",
        &zip(&py),
    );

    let mut node = Vec::new();
    files(&web.join("node_modules"), "node_modules/", &mut node);
    node.push(("express_app.js".into(), app_source("express_app.js")));
    let node_url = deploy(
        &server,
        "express",
        "nodejs20.x",
        "express_app.handler",
        &zip(&node),
    );

    exercise("FastAPI + Mangum", &Target::new(&server, &py_url));
    exercise(
        "Express + serverless-http",
        &Target::new(&server, &node_url),
    );

    // The URL as the API returned it works as given: curl resolves *.localhost to loopback.
    let out = std::process::Command::new("/usr/bin/curl")
        .args(["-sS", "--max-time", "60"])
        .arg(format!("{py_url}items/7?q=curl"))
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {py_url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(body, json!({ "item_id": 7, "q": "curl", "session": null }));
}
