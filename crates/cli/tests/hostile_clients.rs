//! Hostile clients against the real binary: idle and slow connections by the thousand, huge
//! unauthenticated bodies, oversize invocations, replayed requests with behaviour headers
//! added, and a shutdown with slow clients still connected.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use support::{creds, NimbusProcess};

/// Holds `idle` silent connections and `slow` connections that send one byte of a request
/// head every 100 ms, until killed. Prints `ready` once all are connected. (A Python child
/// process, so the test's own descriptor limit does not matter.)
const CROWD: &str = r#"
import resource, socket, sys, time
addr = (sys.argv[1], int(sys.argv[2]))
idle_n, slow_n = int(sys.argv[3]), int(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
idle = [socket.create_connection(addr) for _ in range(idle_n)]
slow = [socket.create_connection(addr) for _ in range(slow_n)]
print("ready", flush=True)
head = b"GET /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 100000
i = 0
while True:
    for s in slow:
        try:
            s.send(head[i % len(head):i % len(head) + 1])
        except OSError:
            pass
    i += 1
    time.sleep(0.1)
"#;

struct Crowd(std::process::Child);

impl Crowd {
    fn start(addr: SocketAddr, idle: usize, slow: usize) -> Self {
        let mut child = Command::new("/usr/bin/python3")
            .args([
                "-c",
                CROWD,
                &addr.ip().to_string(),
                &addr.port().to_string(),
                &idle.to_string(),
                &slow.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python");
        let mut out = child.stdout.take().expect("stdout");
        let mut buf = [0u8; 6];
        out.read_exact(&mut buf).expect("the crowd connects");
        assert_eq!(&buf, b"ready\n");
        Self(child)
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn timed_list(server: &NimbusProcess) -> Duration {
    let t = Instant::now();
    let (status, body) = server
        .call("GET", "/2015-03-31/functions", None)
        .expect("list");
    assert_eq!(status, 200, "{body}");
    t.elapsed()
}

#[test]
fn thousands_of_idle_and_slow_connections_hold_up_no_signed_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    let _crowd = Crowd::start(server.addr, 2000, 200);
    for _ in 0..5 {
        let took = timed_list(&server);
        eprintln!("ListFunctions with 2,200 hostile connections open: {took:?}");
        assert!(took < Duration::from_secs(1), "took {took:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Reads one HTTP response's status line and headers from `s`.
fn read_head(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[test]
fn an_unauthenticated_huge_body_is_refused_unread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    let mut s = TcpStream::connect(server.addr).expect("connect");
    write!(
        s,
        "POST /2015-03-31/functions HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        200u64 << 20
    )
    .expect("head");
    s.write_all(&[b'x'; 4096]).expect("a few KB");
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    // The server does not read the rest: the connection is closed behind the answer, so
    // sending the 200 MB fails long before it is through.
    let chunk = vec![b'x'; 1 << 20];
    let mut sent = 4096usize;
    while sent < 200 << 20 {
        if s.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    eprintln!("bytes sent before the server closed: {sent}");
    assert!(sent < 64 << 20, "the server kept reading: {sent} bytes");
    assert!(timed_list(&server) < Duration::from_secs(1));
}

fn signed_head(
    addr: SocketAddr,
    path: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let host = addr.to_string();
    let mut headers = vec![("host", host.as_str())];
    headers.extend_from_slice(extra);
    nimbus_server::auth::sign_request(
        &creds(),
        "us-east-1",
        "POST",
        &format!("http://{addr}{path}"),
        &headers,
        body,
        SystemTime::now(),
    )
    .expect("sign")
}

fn send_head(s: &mut TcpStream, path: &str, headers: &[(String, String)], len: usize) {
    let mut head = format!("POST {path} HTTP/1.1\r\nContent-Length: {len}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("head");
}

#[test]
fn an_oversize_invoke_is_refused_before_its_body_is_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    let body = vec![b' '; 7 << 20];
    let path = "/2015-03-31/functions/f/invocations";
    let mut headers = signed_head(server.addr, path, &body, &[]);
    headers.push(("Host".into(), server.addr.to_string()));
    let mut s = TcpStream::connect(server.addr).expect("connect");
    send_head(&mut s, path, &headers, body.len());
    // Nothing of the body sent, and the answer is already there.
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("RequestEntityTooLargeException"), "{head}");
}

#[test]
fn an_unsigned_behaviour_header_added_to_a_signed_request_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    let path = "/2015-03-31/functions/f/invocations";
    let body = b"{}";
    for (name, value) in [
        ("X-Amz-Log-Type", "Tail"),
        ("X-Amz-Invocation-Type", "DryRun"),
        ("X-Amz-Client-Context", "e30="),
    ] {
        let mut headers = signed_head(server.addr, path, body, &[]);
        headers.push(("Host".into(), server.addr.to_string()));
        headers.push((name.into(), value.into()));
        let mut s = TcpStream::connect(server.addr).expect("connect");
        send_head(&mut s, path, &headers, body.len());
        s.write_all(body).expect("body");
        let head = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 403"), "{name}: {head}");
        // Signed, the same header is fine (404: there is no such function).
        let mut headers = signed_head(server.addr, path, body, &[(name, value)]);
        headers.push(("Host".into(), server.addr.to_string()));
        headers.push((name.into(), value.into()));
        let mut s = TcpStream::connect(server.addr).expect("connect");
        send_head(&mut s, path, &headers, body.len());
        s.write_all(body).expect("body");
        let head = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 404"), "{name} signed: {head}");
    }
}

#[test]
fn shutdown_keeps_its_deadline_with_slow_clients_connected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("nimbus.toml");
    std::fs::write(&config, "shutdown_timeout_seconds = 2\n").expect("config");
    let server = NimbusProcess::start_with_config(&dir.path().join("data"), &config);
    let _crowd = Crowd::start(server.addr, 50, 50);
    assert!(timed_list(&server) < Duration::from_secs(1));
    let pid = server.pid();
    let t = Instant::now();
    // Dropping the handle sends SIGTERM and waits (SIGKILL only after 10 s).
    drop(server);
    let took = t.elapsed();
    eprintln!("shutdown with 100 slow clients took {took:?}");
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z ")),
        "the server is gone"
    );
}
