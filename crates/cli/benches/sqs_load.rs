//! The load generator of `bench/sqs.sh`: closed-loop, keep-alive, `SQS_CONCURRENCY` requests
//! in flight (tokio + reqwest, one connection per worker), each SigV4-signed anew as an SDK
//! signs it (so DeleteMessage can carry a different receipt handle every time, which a replayed
//! request cannot). Prints one `SQS_JSON {...}` line per phase:
//!
//! - `http-floor`: `GET /` of bench/minimal-http (`SQS_MINIMAL`), unsigned: what this generator
//!   and loopback HTTP cost, the same run's baseline;
//! - `signed-read`: GetQueueUrl (signature verified, one indexed read, no write): the server's
//!   floor for an SQS call;
//! - `send`, `send-batch` (10 messages of `SQS_BODY_BYTES` each), `receive` (10 at a time,
//!   VisibilityTimeout 3600, every handle kept), `delete` (half of the handles, one per call),
//!   `delete-batch` (the other half, 10 per call).
//!
//! With `SQS_PRESIGN=<file.lua>` it only writes one signed SendMessage for wrk (bench/load.lua)
//! and exits. Configuration by environment (cargo bench adds arguments of its own):
//! `SQS_ENDPOINT`, `NIMBUS_ACCESS_KEY_ID`, `NIMBUS_SECRET_ACCESS_KEY`, `SQS_DURATION` (s, 10),
//! `SQS_CONCURRENCY` (16), `SQS_BODY_BYTES` (256), `SQS_MINIMAL` (http://addr, optional).
//! Exits non-zero if any request was answered other than 200.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use nimbus_server::auth::sign_request_for;
use nimbus_server::Credentials;
use serde_json::{json, Value};

#[derive(Clone)]
struct Target {
    endpoint: String,
    host: String,
    creds: Credentials,
    queue_url: String,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// The signed headers of an SQS JSON call.
fn signed(t: &Target, op: &str, body: &str) -> Vec<(String, String)> {
    let target = format!("AmazonSQS.{op}");
    let headers = [
        ("host", t.host.as_str()),
        ("x-amz-target", target.as_str()),
        ("content-type", "application/x-amz-json-1.0"),
    ];
    let mut out: Vec<(String, String)> = headers
        .iter()
        .skip(1)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    out.extend(
        sign_request_for(
            "sqs",
            &t.creds,
            "us-east-1",
            "POST",
            &format!("{}/", t.endpoint),
            &headers,
            body.as_bytes(),
            SystemTime::now(),
        )
        .expect("sign"),
    );
    out
}

async fn call(http: &reqwest::Client, t: &Target, op: &str, body: String) -> (u16, Vec<u8>) {
    let mut req = http.post(format!("{}/", t.endpoint));
    for (k, v) in signed(t, op, &body) {
        req = req.header(k, v);
    }
    match req.body(body).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (
                status,
                r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
            )
        }
        Err(_) => (0, Vec::new()),
    }
}

#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    items: u64,
    latencies_us: Vec<u64>,
}

/// What one request did: its status and how many messages it moved.
type Outcome = (u16, u64);

/// Runs `work` on `concurrency` workers until `duration` passes or a worker's `work` answers
/// `None` (nothing left to do); prints and returns the phase's figures.
async fn phase<F, Fut>(name: &str, concurrency: usize, duration: Duration, work: F) -> Value
where
    F: Fn(reqwest::Client) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<Outcome>> + Send,
{
    let work = Arc::new(work);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (work, tally, done) = (Arc::clone(&work), Arc::clone(&tally), Arc::clone(&done));
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .tcp_nodelay(true)
                    .build()
                    .expect("client");
                let mut local = Tally::default();
                while Instant::now() < deadline && !done.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    let Some((status, items)) = work(http.clone()).await else {
                        done.store(true, Ordering::Relaxed);
                        break;
                    };
                    local.latencies_us.push(t0.elapsed().as_micros() as u64);
                    if status == 200 {
                        local.ok += 1;
                        local.items += items;
                    } else {
                        local.failed += 1;
                    }
                }
                let mut t = tally.lock().expect("tally");
                t.ok += local.ok;
                t.failed += local.failed;
                t.items += local.items;
                t.latencies_us.extend(local.latencies_us);
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut t = tally.lock().expect("tally");
    t.latencies_us.sort_unstable();
    let pct = |p: f64| {
        if t.latencies_us.is_empty() {
            return 0;
        }
        let i = ((t.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        t.latencies_us[i]
    };
    let v = json!({
        "phase": name,
        "concurrency": concurrency,
        "seconds": (elapsed * 100.0).round() / 100.0,
        "requests": t.ok + t.failed,
        "failed": t.failed,
        "requests_per_s": ((t.ok + t.failed) as f64 / elapsed).round(),
        "messages_per_s": (t.items as f64 / elapsed).round(),
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
    });
    println!("SQS_JSON {v}");
    v
}

fn messages_in(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["Messages"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["ReceiptHandle"].as_str().map(str::to_string))
        .collect()
}

fn main() {
    let endpoint = env_or("SQS_ENDPOINT", "http://127.0.0.1:9000")
        .trim_end_matches('/')
        .to_string();
    let host = endpoint
        .split_once("://")
        .map_or(endpoint.as_str(), |(_, h)| h)
        .to_string();
    let creds = Credentials {
        access_key_id: env_or("NIMBUS_ACCESS_KEY_ID", ""),
        secret_access_key: env_or("NIMBUS_SECRET_ACCESS_KEY", ""),
    };
    let duration = Duration::from_secs_f64(env_or("SQS_DURATION", "10").parse().unwrap_or(10.0));
    let concurrency: usize = env_or("SQS_CONCURRENCY", "16").parse().unwrap_or(16);
    let body_bytes: usize = env_or("SQS_BODY_BYTES", "256").parse().unwrap_or(256);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let http = reqwest::Client::new();
        let mut t = Target {
            endpoint: endpoint.clone(),
            host,
            creds,
            queue_url: String::new(),
        };
        let (status, created) = call(
            &http,
            &t,
            "CreateQueue",
            json!({"QueueName": "bench"}).to_string(),
        )
        .await;
        assert_eq!(
            status,
            200,
            "CreateQueue: {}",
            String::from_utf8_lossy(&created)
        );
        let created: Value = serde_json::from_slice(&created).expect("json");
        t.queue_url = created["QueueUrl"].as_str().expect("QueueUrl").to_string();
        let body: String = "x".repeat(body_bytes);
        let send_body = json!({"QueueUrl": t.queue_url, "MessageBody": body}).to_string();

        if let Ok(path) = std::env::var("SQS_PRESIGN") {
            // One signed SendMessage for wrk to replay (valid 15 minutes).
            let lua_str = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
            let headers: Vec<String> = signed(&t, "SendMessage", &send_body)
                .iter()
                .map(|(k, v)| format!("[{}] = {}", lua_str(k), lua_str(v)))
                .collect();
            let spec = format!(
                "return {{ method = \"POST\", path = \"/\", headers = {{ {} }}, body = {} }}\n",
                headers.join(", "),
                lua_str(&send_body)
            );
            std::fs::write(&path, spec).expect("write the request");
            return;
        }

        let mut failed = 0u64;
        let mut add = |v: &Value| failed += v["failed"].as_u64().unwrap_or(0);
        if let Ok(minimal) = std::env::var("SQS_MINIMAL") {
            let v = phase("http-floor", concurrency, duration, move |http| {
                let url = format!("{minimal}/");
                async move {
                    let s = http.get(url).send().await.ok()?;
                    let status = s.status().as_u16();
                    let _ = s.bytes().await;
                    Some((status, 0))
                }
            })
            .await;
            add(&v);
        }
        let read_body = json!({"QueueName": "bench"}).to_string();
        let tt = t.clone();
        let v = phase("signed-read", concurrency, duration, move |http| {
            let (t, b) = (tt.clone(), read_body.clone());
            async move { Some((call(&http, &t, "GetQueueUrl", b).await.0, 0)) }
        })
        .await;
        add(&v);
        let tt = t.clone();
        let sb = send_body.clone();
        let v = phase("send", concurrency, duration, move |http| {
            let (t, b) = (tt.clone(), sb.clone());
            async move { Some((call(&http, &t, "SendMessage", b).await.0, 1)) }
        })
        .await;
        add(&v);
        let entries: Vec<Value> = (0..10)
            .map(|i| json!({"Id": format!("m{i}"), "MessageBody": body}))
            .collect();
        let batch_body = json!({"QueueUrl": t.queue_url, "Entries": entries}).to_string();
        let tt = t.clone();
        let v = phase("send-batch", concurrency, duration, move |http| {
            let (t, b) = (tt.clone(), batch_body.clone());
            async move {
                let (status, out) = call(&http, &t, "SendMessageBatch", b).await;
                let n = serde_json::from_slice::<Value>(&out)
                    .ok()
                    .and_then(|v| v["Successful"].as_array().map(|a| a.len() as u64))
                    .unwrap_or(0);
                Some((if n == 10 { status } else { 299 }, n))
            }
        })
        .await;
        add(&v);

        let handles = Arc::new(Mutex::new(Vec::<String>::new()));
        let recv_body =
            json!({"QueueUrl": t.queue_url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 3600})
                .to_string();
        let (tt, hs) = (t.clone(), Arc::clone(&handles));
        let v = phase("receive", concurrency, duration, move |http| {
            let (t, b, hs) = (tt.clone(), recv_body.clone(), Arc::clone(&hs));
            async move {
                let (status, out) = call(&http, &t, "ReceiveMessage", b).await;
                let got = messages_in(&out);
                if status == 200 && got.is_empty() {
                    return None;
                }
                let n = got.len() as u64;
                hs.lock().expect("handles").extend(got);
                Some((status, n))
            }
        })
        .await;
        add(&v);

        let handles = Arc::new(std::mem::take(&mut *handles.lock().expect("handles")));
        let half = handles.len() / 2;
        let next = Arc::new(AtomicUsize::new(0));
        let (tt, hs, nx) = (t.clone(), Arc::clone(&handles), Arc::clone(&next));
        let v = phase("delete", concurrency, duration, move |http| {
            let (t, hs, nx) = (tt.clone(), Arc::clone(&hs), Arc::clone(&nx));
            async move {
                let i = nx.fetch_add(1, Ordering::Relaxed);
                let h = hs.get(i).filter(|_| i < half)?;
                let b = json!({"QueueUrl": t.queue_url, "ReceiptHandle": h}).to_string();
                Some((call(&http, &t, "DeleteMessage", b).await.0, 1))
            }
        })
        .await;
        add(&v);
        let next = Arc::new(AtomicUsize::new(half));
        let (tt, hs, nx) = (t.clone(), Arc::clone(&handles), Arc::clone(&next));
        let v = phase("delete-batch", concurrency, duration, move |http| {
            let (t, hs, nx) = (tt.clone(), Arc::clone(&hs), Arc::clone(&nx));
            async move {
                let i = nx.fetch_add(10, Ordering::Relaxed);
                let chunk = hs
                    .get(i..(i + 10).min(hs.len()))
                    .filter(|c| !c.is_empty())?;
                let entries: Vec<Value> = chunk
                    .iter()
                    .enumerate()
                    .map(|(j, h)| json!({"Id": format!("d{j}"), "ReceiptHandle": h}))
                    .collect();
                let n = entries.len() as u64;
                let b = json!({"QueueUrl": t.queue_url, "Entries": entries}).to_string();
                let (status, out) = call(&http, &t, "DeleteMessageBatch", b).await;
                let deleted = serde_json::from_slice::<Value>(&out)
                    .ok()
                    .and_then(|v| v["Successful"].as_array().map(|a| a.len() as u64))
                    .unwrap_or(0);
                Some((if deleted == n { status } else { 299 }, deleted))
            }
        })
        .await;
        add(&v);
        if failed > 0 {
            eprintln!("sqs_load: {failed} requests were not answered 200");
            std::process::exit(1);
        }
    });
}
