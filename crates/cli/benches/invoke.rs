//! Invocation latency and throughput, each beside a baseline measured in the same run.
//!
//! `cargo bench -p nimbus-cli --bench invoke` (or `bench/invoke.sh`). Starts a release `nimbus
//! serve` on 127.0.0.1:0 with the `process` launcher and prints, for a Python hello function
//! (our bootstrap) and a `provided.al2023` hello function (the `lambda_runtime` fixture):
//! cold-start and warm-invoke latency (p50, p99) and warm throughput; beside them the handler
//! run directly in a loop (no Nimbus), the runtime's own start-up, and a bare loopback HTTP
//! round trip with the same client library.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use nimbus_server::auth::sign_request;
use nimbus_server::Credentials;
use serde_json::{json, Value};

const COLD: usize = 20;
const WARM: usize = 300;
const CLIENTS: usize = 4;
const THROUGHPUT_FOR: Duration = Duration::from_secs(3);

fn creds() -> Credentials {
    Credentials {
        access_key_id: "NKIABENCHBENCHBENCH1".into(),
        secret_access_key: "bench-secret-0123456789abcdefghijklmnopq".into(),
    }
}

struct Server {
    child: Child,
    addr: SocketAddr,
    http: reqwest::blocking::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(data: &Path, launcher: &str) -> Self {
        let c = creds();
        std::fs::create_dir_all(data).expect("data dir");
        let config = data.join("nimbus.toml");
        std::fs::write(&config, format!("launcher = \"{launcher}\"\n")).expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_nimbus"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(data)
            .env("NIMBUS_ACCESS_KEY_ID", &c.access_key_id)
            .env("NIMBUS_SECRET_ACCESS_KEY", &c.secret_access_key)
            .env("NIMBUS_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start nimbus");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("line");
        let addr = line
            .trim()
            .trim_start_matches("listening on ")
            .parse()
            .expect("addr");
        Self {
            child,
            addr,
            http: reqwest::blocking::Client::new(),
        }
    }

    fn call(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let url = format!("http://{}{path}", self.addr);
        let host = self.addr.to_string();
        let signed = sign_request(
            &creds(),
            "us-east-1",
            method,
            &url,
            &[("host", &host)],
            body,
            SystemTime::now(),
        )
        .expect("sign");
        let mut req = self
            .http
            .request(method.parse().expect("method"), &url)
            .body(body.to_vec());
        for (k, v) in signed {
            req = req.header(k, v);
        }
        let resp = req.send().expect("send");
        let status = resp.status().as_u16();
        (status, resp.bytes().expect("body").to_vec())
    }

    fn create(&self, name: &str, runtime: &str, handler: &str, zip: &[u8]) {
        let body = json!({
            "FunctionName": name, "Runtime": runtime, "Role": "arn:aws:iam::000000000000:role/bench",
            "Handler": handler, "Timeout": 30, "MemorySize": 1769,
            "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) },
        });
        let (status, resp) = self.call(
            "POST",
            "/2015-03-31/functions",
            &serde_json::to_vec(&body).expect("json"),
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&resp));
        for _ in 0..500 {
            let (_, b) = self.call(
                "GET",
                &format!("/2015-03-31/functions/{name}/configuration"),
                b"",
            );
            let v: Value = serde_json::from_slice(&b).expect("json");
            if v["State"] == "Active" {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("{name} never became active");
    }

    fn invoke(&self, name: &str) -> Duration {
        let t = Instant::now();
        let (status, body) = self.call(
            "POST",
            &format!("/2015-03-31/functions/{name}/invocations"),
            br#"{"name":"bench"}"#,
        );
        let d = t.elapsed();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        d
    }
}

fn zip(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, mode) in entries {
        w.start_file(
            *name,
            zip::write::SimpleFileOptions::default().unix_permissions(*mode),
        )
        .expect("file");
        w.write_all(data).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

fn pct(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn summary(samples: &mut [Duration]) -> String {
    format!(
        "p50 {:>10}  p99 {:>10}",
        ms(pct(samples, 0.5)),
        ms(pct(samples, 0.99))
    )
}

/// Requests per second with `CLIENTS` threads each running `op` in a loop.
fn throughput(op: impl Fn() + Sync) -> f64 {
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..CLIENTS {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    op();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(THROUGHPUT_FOR);
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// A minimal keep-alive HTTP server on loopback: the floor under any HTTP API.
fn loopback_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut conn = conn;
                let mut buf = [0u8; 8192];
                let mut pending = Vec::new();
                loop {
                    let n = match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if pending.len() < end + 4 + len {
                            break;
                        }
                        pending.drain(..end + 4 + len);
                        if conn
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn loopback_roundtrip(client: &reqwest::blocking::Client, addr: SocketAddr) -> Duration {
    let t = Instant::now();
    let r = client
        .post(format!("http://{addr}/"))
        .body(r#"{"name":"bench"}"#)
        .send()
        .expect("send");
    let _ = r.bytes();
    t.elapsed()
}

/// Median wall time of starting `cmd` and waiting for it to finish.
fn process_start(mut cmd: impl FnMut() -> Command) -> Vec<Duration> {
    (0..COLD)
        .map(|_| {
            let t = Instant::now();
            let _ = cmd().stdout(Stdio::null()).stderr(Stdio::null()).status();
            t.elapsed()
        })
        .collect()
}

/// Per-call time of the Python handler run directly in a loop, measured by Python itself.
fn python_direct(code_dir: &Path) -> (Duration, Duration) {
    let script = "import sys, time, json\nsys.path.insert(0, sys.argv[1])\nimport app\nts = []\nfor i in range(20000):\n    t = time.perf_counter_ns()\n    json.dumps(app.handler(json.loads('{\"name\":\"bench\"}'), None))\n    ts.append(time.perf_counter_ns() - t)\nts.sort()\nprint(ts[len(ts)//2], ts[int(len(ts)*0.99)])\n";
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(code_dir)
        .output()
        .expect("python");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text
        .split_whitespace()
        .map(|n| n.parse::<u64>().unwrap_or(0));
    (
        Duration::from_nanos(it.next().unwrap_or(0)),
        Duration::from_nanos(it.next().unwrap_or(0)),
    )
}

fn rust_fixture() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "nimbus-fixture-rust-hello",
        ])
        .current_dir(&root)
        .status()
        .expect("cargo build");
    assert!(status.success());
    let exe = std::env::current_exe().expect("bench exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("rust-hello")
}

const PY_APP: &str = "def handler(event, context):\n    return {'hello': event.get('name')}\n";

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let dir = tempfile::tempdir().expect("tempdir");
    let py_zip = zip(&[("app.py", PY_APP.as_bytes(), 0o644)]);
    let rust_bin = std::fs::read(rust_fixture()).expect("fixture");
    let rust_zip = zip(&[("bootstrap", &rust_bin, 0o755)]);
    let code_dir = dir.path().join("pycode");
    std::fs::create_dir_all(&code_dir).expect("mkdir");
    std::fs::write(code_dir.join("app.py"), PY_APP).expect("write");

    // Baselines.
    let lb = loopback_server();
    let client = reqwest::blocking::Client::new();
    for _ in 0..50 {
        loopback_roundtrip(&client, lb);
    }
    let mut loop_lat: Vec<Duration> = (0..WARM).map(|_| loopback_roundtrip(&client, lb)).collect();
    let loop_tput = throughput(|| {
        loopback_roundtrip(&client, lb);
    });
    let (py_direct_p50, py_direct_p99) = python_direct(&code_dir);
    let mut py_start = process_start(|| {
        let mut c = Command::new("/usr/bin/python3");
        c.args([
            "-u",
            "-s",
            "-B",
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import app",
        ])
        .arg(&code_dir);
        c
    });
    let mut exec_start = process_start(|| Command::new("/bin/true"));

    let mut cold_p50: Vec<(String, &str, Duration)> = Vec::new();
    for launcher in ["process", "sandbox"] {
        let server = Server::start(&dir.path().join(format!("data-{launcher}")), launcher);
        println!("Nimbus invoke benchmark ({launcher} launcher, {COLD} cold starts, {WARM} warm invokes, {CLIENTS} clients for {THROUGHPUT_FOR:?})");
        println!("{:-<118}", "");
        for (label, runtime, handler, code) in [
            (
                "python3.12 hello (our bootstrap)",
                "python3.12",
                "app.handler",
                &py_zip,
            ),
            (
                "provided.al2023 hello (lambda_runtime)",
                "provided.al2023",
                "bootstrap",
                &rust_zip,
            ),
        ] {
            let prefix = runtime.replace('.', "-");
            // Cold: a new function each time, so that no warm environment exists.
            let mut cold: Vec<Duration> = (0..COLD)
                .map(|i| {
                    let name = format!("{prefix}-cold-{i}");
                    server.create(&name, runtime, handler, code);
                    server.invoke(&name)
                })
                .collect();
            let warm_name = format!("{prefix}-warm");
            server.create(&warm_name, runtime, handler, code);
            for _ in 0..20 {
                server.invoke(&warm_name);
            }
            let mut warm: Vec<Duration> = (0..WARM).map(|_| server.invoke(&warm_name)).collect();
            let tput = throughput(|| {
                server.invoke(&warm_name);
            });
            println!("{label}");
            println!("  cold start (client-observed)   {}", summary(&mut cold));
            cold_p50.push((label.to_string(), launcher, pct(&mut cold, 0.5)));
            if runtime.starts_with("python") {
                println!(
                    "    baseline: python3 start + import app, no Nimbus      {}",
                    summary(&mut py_start)
                );
            } else {
                println!(
                    "    baseline: fork+exec+exit of /bin/true, no Nimbus     {}",
                    summary(&mut exec_start)
                );
            }
            println!("  warm invoke (client-observed)  {}", summary(&mut warm));
            if runtime.starts_with("python") {
                println!(
                "    baseline: the handler called directly in a loop      p50 {:>10}  p99 {:>10}",
                ms(py_direct_p50),
                ms(py_direct_p99)
            );
            }
            println!(
                "    baseline: bare loopback HTTP round trip              {}",
                summary(&mut loop_lat)
            );
            println!("  warm throughput, {CLIENTS} clients    {tput:>10.0} invocations/s");
            println!("    baseline: bare loopback HTTP, {CLIENTS} clients          {loop_tput:>10.0} requests/s");
        }
        println!();
    }
    println!("Sandbox cost at cold start (p50, sandbox minus process launcher, same run):");
    for (label, launcher, p50) in &cold_p50 {
        if *launcher != "sandbox" {
            continue;
        }
        if let Some((_, _, base)) = cold_p50
            .iter()
            .find(|(l, k, _)| l == label && *k == "process")
        {
            let added = p50.as_secs_f64() * 1000.0 - base.as_secs_f64() * 1000.0;
            println!(
                "  {label:<40} {added:>+8.3} ms  ({} vs {})",
                ms(*p50),
                ms(*base)
            );
        }
    }
}
