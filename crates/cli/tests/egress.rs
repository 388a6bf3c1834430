//! Egress (`network.egress = "nat"`), end to end, where no packet can leave the machine: the
//! server runs in a network namespace of the test's whose only route out leads to a second
//! namespace playing the remote host (an HTTP server, the metadata address 169.254.169.254 and
//! a denied range, all on its addresses). Every address touched belongs to a namespace made
//! here. The API is driven by boto3 run inside the server's namespace. Needs root, `ip`,
//! `nsenter` and `nft` (`./scripts/test.sh` installs nftables).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{creds, NimbusProcess};

/// The remote host's addresses.
const REMOTE_LINK: &str = "203.0.113.2";
const SERVER_LINK: &str = "203.0.113.1";
const REMOTE_HTTP: &str = "198.51.100.1";
const METADATA: &str = "169.254.169.254";
const DENIED: &str = "192.0.2.1";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces, `<name>-s` (the server's) and `<name>-r` (the remote host), joined by a
/// veth pair; removed with everything in them when dropped.
struct Namespaces {
    server: String,
    remote: String,
    children: Vec<std::process::Child>,
}

impl Namespaces {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "nx{}{}",
            std::process::id() % 100_000,
            N.fetch_add(1, Ordering::SeqCst)
        );
        let (server, remote) = (format!("{tag}-s"), format!("{tag}-r"));
        let (a, b) = (format!("{tag}a"), format!("{tag}b"));
        ip(&["netns", "add", &server]);
        ip(&["netns", "add", &remote]);
        let ns = Self {
            server,
            remote,
            children: Vec::new(),
        };
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        ip(&["link", "set", &a, "netns", &ns.server]);
        ip(&["link", "set", &b, "netns", &ns.remote]);
        let (s, r) = (ns.server.as_str(), ns.remote.as_str());
        for (n, dev, addr) in [(s, a.as_str(), SERVER_LINK), (r, b.as_str(), REMOTE_LINK)] {
            ip(&["-n", n, "link", "set", "lo", "up"]);
            ip(&["-n", n, "link", "set", dev, "up"]);
            ip(&["-n", n, "addr", "add", &format!("{addr}/24"), "dev", dev]);
        }
        ip(&["-n", s, "route", "add", "default", "via", REMOTE_LINK]);
        for addr in [REMOTE_HTTP, METADATA, DENIED] {
            ip(&["-n", r, "addr", "add", &format!("{addr}/32"), "dev", "lo"]);
        }
        ns
    }

    /// `program` run with its network namespace switched to `ns` (nothing else: `ip netns exec`
    /// would remount /sys and hide the cgroup file systems).
    fn command(ns: &str, program: &Path) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/var/run/netns/{ns}")).arg(program);
        c
    }

    /// An HTTP server on every address of the remote host, port 8080, serving `dir`.
    fn serve_remote(&mut self, dir: &Path) {
        let mut c = Self::command(&self.remote, Path::new("/usr/bin/python3"));
        c.args([
            "-m",
            "http.server",
            "--bind",
            "0.0.0.0",
            "8080",
            "--directory",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        self.children.push(c.spawn().expect("remote http server"));
    }

    /// A listener on the server's namespace's own address (a host service).
    fn listen_on_server_host(&mut self, port: u16) {
        let mut c = Self::command(&self.server, Path::new("/usr/bin/python3"));
        c.args([
            "-c",
            &format!("import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',{port}))\ns.listen(16)\ntime.sleep(600)"),
        ]);
        self.children.push(c.spawn().expect("host listener"));
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.server])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.remote])
            .status();
    }
}

fn sdk_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("NIMBUS_TEST_SDK_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../.sdk-test").into()),
    )
}

/// The server inside `ns.server`, with `network` as its `[network]` section.
fn start(ns: &Namespaces, dir: &Path, network: &str) -> NimbusProcess {
    start_logging(ns, dir, network, None)
}

/// [`start`], its debug log to `log` if given.
fn start_logging(ns: &Namespaces, dir: &Path, network: &str, log: Option<&Path>) -> NimbusProcess {
    let config = dir.join("nimbus.toml");
    std::fs::write(
        &config,
        format!(
            "[runtimes]\nsdk_dir = \"{}\"\n[network]\n{network}\n",
            sdk_dir().display()
        ),
    )
    .expect("config");
    let data = dir.join("data");
    let c = creds();
    let mut cmd = Namespaces::command(&ns.server, Path::new(env!("CARGO_BIN_EXE_nimbus")));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--url-listen",
        "127.0.0.1:0",
        "--config",
    ])
    .arg(&config)
    .arg("--data-dir")
    .arg(&data)
    .env("NIMBUS_ACCESS_KEY_ID", &c.access_key_id)
    .env("NIMBUS_SECRET_ACCESS_KEY", &c.secret_access_key);
    match log {
        Some(path) => {
            cmd.env("NIMBUS_LOG", "warn,nimbus_engine=debug");
            let file = std::fs::File::create(path).expect("log file");
            NimbusProcess::spawn_with_stderr(cmd, &data, file.into())
        }
        None => NimbusProcess::spawn(cmd, &data),
    }
}

/// Runs `body` (Python, with `lam`, a boto3 Lambda client for the server, and `json`) inside
/// the server's namespace; returns what it printed, as JSON.
fn api(ns: &Namespaces, server: &NimbusProcess, body: &str) -> Value {
    let c = creds();
    let script = format!(
        "import json, sys, time, io, zipfile, boto3\nlam = boto3.client('lambda', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])\n{body}\n"
    );
    let out = Namespaces::command(&ns.server, &support::python_with_boto3())
        .arg("-c")
        .arg(script)
        .arg(server.endpoint())
        .arg(&c.access_key_id)
        .arg(&c.secret_access_key)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "api script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "api script printed no JSON: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A function probing what it can reach.
const PROBE: &str = r#"
import errno, socket, threading, urllib.request

def attempt(host, port):
    try:
        s = socket.create_connection((host, port), timeout=3)
        s.close()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, type(e).__name__)

def my_address():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("198.51.100.1", 9))
        return s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()

LISTENING = []

def listen(port):
    if LISTENING:
        return
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(16)
    LISTENING.append(srv)
    def loop():
        while True:
            c, _ = srv.accept()
            c.close()
    threading.Thread(target=loop, daemon=True).start()

def escape(kind):
    try:
        if kind == "raw":
            socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        elif kind == "packet":
            socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        elif kind == "ifdown":
            import fcntl, struct
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            fcntl.ioctl(s, 0x8914, struct.pack("16sH14s", b"eth0", 0, b"\0" * 14))  # SIOCSIFFLAGS
        elif kind == "spoof":
            # Bound to an address not its own (IP_FREEBIND needs no privilege), it may not send.
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_IP, 15, 1)
            s.bind(("198.51.100.77", 0))
            s.sendto(b"x", ("198.51.100.1", 8080))
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, type(e).__name__)

def handler(event, context):
    out = {"address": my_address()}
    if "listen" in event:
        listen(event["listen"])
    if event.get("fetch"):
        try:
            out["fetch"] = urllib.request.urlopen(event["fetch"], timeout=5).read().decode()
        except Exception as e:
            out["fetch"] = "error: " + type(e).__name__
    out["connect"] = {"%s:%s" % (h, p): attempt(h, p) for h, p in event.get("targets", [])}
    out["escape"] = {k: escape(k) for k in event.get("escape", [])}
    return out
"#;

fn deploy_py(name: &str, tags: &str) -> String {
    format!(
        "buf = io.BytesIO()\nwith zipfile.ZipFile(buf, 'w') as z:\n    z.writestr('app.py', {probe:?})\nlam.create_function(FunctionName={name:?}, Runtime='python3.12', Role='arn:aws:iam::000000000000:role/lambda-role', Handler='app.handler', Timeout=30, Code={{'ZipFile': buf.getvalue()}}, Tags={tags})\nfor _ in range(500):\n    c = lam.get_function_configuration(FunctionName={name:?})\n    if c['State'] == 'Active' and c['LastUpdateStatus'] == 'Successful':\n        break\n    time.sleep(0.02)\n",
        probe = PROBE,
    )
}

fn invoke_py(name: &str, event: &Value) -> String {
    format!(
        "r = lam.invoke(FunctionName={name:?}, Payload={event:?})\nprint(json.dumps({{'status': r['StatusCode'], 'error': r.get('FunctionError'), 'body': json.loads(r['Payload'].read())}}))\n",
        event = event.to_string()
    )
}

fn invoke(ns: &Namespaces, server: &NimbusProcess, name: &str, event: Value) -> Value {
    let r = api(ns, server, &invoke_py(name, &event));
    assert_eq!(r["status"], 200, "{r}");
    assert!(r["error"].is_null(), "{name} failed: {r}");
    r["body"].clone()
}

#[test]
fn nat_functions_reach_the_remote_host_and_nothing_they_must_not() {
    let mut ns = Namespaces::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).expect("mkdir");
    std::fs::write(www.join("hello.txt"), "hello from the remote host").expect("write");
    ns.serve_remote(&www);
    ns.listen_on_server_host(7777);
    let server = start(
        &ns,
        dir.path(),
        // The denied range is the operator's list (the remote's own range stays reachable).
        "egress = \"nat\"\ndeny = [\"192.0.2.0/24\"]\nmax_connections = 64",
    );
    api(
        &ns,
        &server,
        &format!(
            "{}{}{}print('{{}}')",
            deploy_py("out", "{}"),
            deploy_py("peer", "{}"),
            deploy_py("off", "{'nimbus:egress': 'none'}")
        ),
    );
    let url = format!("http://{REMOTE_HTTP}:8080/hello.txt");
    // Wait for the remote's HTTP server to answer (it is a child started above).
    let deadline = Instant::now() + Duration::from_secs(10);
    let peer = loop {
        let p = invoke(
            &ns,
            &server,
            "peer",
            serde_json::json!({ "listen": 7000, "fetch": url, "targets": [] }),
        );
        if p["fetch"] == "hello from the remote host" || Instant::now() > deadline {
            break p;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(peer["fetch"], "hello from the remote host", "{peer}");
    let peer_addr = peer["address"]
        .as_str()
        .expect("the peer's address")
        .to_string();
    assert!(peer_addr.starts_with("10.213."), "{peer}");
    let api_port = server.addr.port();
    let r = invoke(
        &ns,
        &server,
        "out",
        serde_json::json!({
            "fetch": url,
            "targets": [
                [REMOTE_HTTP, 8080],
                [METADATA, 8080],
                [DENIED, 8080],
                [SERVER_LINK, 7777],
                ["10.213.0.1", 7777],
                ["10.213.0.1", api_port],
                [SERVER_LINK, api_port],
                ["127.0.0.1", api_port],
                [peer_addr.as_str(), 7000],
            ],
            "escape": ["raw", "packet", "ifdown", "spoof"],
        }),
    );
    assert_eq!(
        r["fetch"], "hello from the remote host",
        "a nat function fetches: {r}"
    );
    let c = &r["connect"];
    assert_eq!(c[format!("{REMOTE_HTTP}:8080")], "ok", "{r}");
    for denied in [
        format!("{METADATA}:8080"),
        format!("{DENIED}:8080"),
        format!("{SERVER_LINK}:7777"),
        "10.213.0.1:7777".to_string(),
        format!("10.213.0.1:{api_port}"),
        format!("{SERVER_LINK}:{api_port}"),
        format!("127.0.0.1:{api_port}"),
        format!("{peer_addr}:7000"),
    ] {
        let said = c[&denied].as_str().unwrap_or("missing");
        assert_ne!(said, "ok", "reached {denied}: {r}");
    }
    for (k, v) in r["escape"].as_object().expect("escape") {
        assert_ne!(v, "ok", "{k} succeeded with nat on: {r}");
    }
    // The peer's listener is alive: it reaches itself.
    let own = invoke(
        &ns,
        &server,
        "peer",
        serde_json::json!({ "targets": [[peer_addr.as_str(), 7000]] }),
    );
    assert_eq!(own["connect"][format!("{peer_addr}:7000")], "ok", "{own}");
    // Tagged `nimbus:egress = none`: loopback only, nothing out.
    let off = invoke(
        &ns,
        &server,
        "off",
        serde_json::json!({ "fetch": url, "targets": [[REMOTE_HTTP, 8080]] }),
    );
    assert!(
        off["fetch"]
            .as_str()
            .is_some_and(|f| f.starts_with("error")),
        "{off}"
    );
    assert_ne!(off["connect"][format!("{REMOTE_HTTP}:8080")], "ok", "{off}");
    assert!(off["address"].is_null(), "no route out at all: {off}");
}

#[test]
fn each_environment_is_held_to_its_connection_limit() {
    let mut ns = Namespaces::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).expect("mkdir");
    ns.serve_remote(&www);
    let server = start(
        &ns,
        dir.path(),
        "egress = \"nat\"\ndeny = []\nmax_connections = 5",
    );
    let hold = r#"
import errno, socket, time
def handler(event, context):
    held, refused = [], 0
    for _ in range(12):
        try:
            held.append(socket.create_connection(("198.51.100.1", 8080), timeout=3))
        except OSError:
            refused += 1
    n = len(held)
    for s in held:
        s.close()
    return {"held": n, "refused": refused}
"#;
    let r = api(
        &ns,
        &server,
        &format!(
            "buf = io.BytesIO()\nwith zipfile.ZipFile(buf, 'w') as z:\n    z.writestr('app.py', {hold:?})\nlam.create_function(FunctionName='hold', Runtime='python3.12', Role='arn:aws:iam::000000000000:role/lambda-role', Handler='app.handler', Timeout=30, Code={{'ZipFile': buf.getvalue()}})\nfor _ in range(500):\n    c = lam.get_function_configuration(FunctionName='hold')\n    if c['State'] == 'Active':\n        break\n    time.sleep(0.02)\ntime.sleep(0.5)\n{}",
            invoke_py("hold", &serde_json::json!({}))
        ),
    );
    assert_eq!(r["body"]["held"], 5, "{r}");
    assert_eq!(r["body"]["refused"], 7, "{r}");
}

/// `nimbus serve` in `ns.server` with `network`, expected to refuse to start: its stderr.
fn refused_start(ns: &Namespaces, dir: &Path, network: &str) -> String {
    let config = dir.join("nimbus.toml");
    std::fs::write(&config, format!("[network]\n{network}\n")).expect("config");
    let c = creds();
    let out = Namespaces::command(&ns.server, Path::new(env!("CARGO_BIN_EXE_nimbus")))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--url-listen",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("NIMBUS_ACCESS_KEY_ID", &c.access_key_id)
        .env("NIMBUS_SECRET_ACCESS_KEY", &c.secret_access_key)
        .env("NIMBUS_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run nimbus serve");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && !stdout.contains("listening on"),
        "started beside another server: {stdout}"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_second_server_cannot_take_a_bridge_or_a_range_in_use() {
    let mut ns = Namespaces::new();
    let dir = tempfile::tempdir().expect("tempdir");
    // No deny list: the remote host's TEST-NET address would be in the default one.
    let first = start(&ns, dir.path(), "egress = \"nat\"\ndeny = []");
    // Another data directory, the same (default) bridge: refused, and the first keeps its own.
    let other = tempfile::tempdir().expect("tempdir");
    let err = refused_start(&ns, other.path(), "egress = \"nat\"");
    assert!(
        err.contains("network.bridge") && err.contains("nimbus0"),
        "{err}"
    );
    // Its own bridge but the first one's range: refused too.
    let err = refused_start(&ns, other.path(), "egress = \"nat\"\nbridge = \"nimbus1\"");
    assert!(
        err.contains("network.subnet") && err.contains("10.213.0.1"),
        "{err}"
    );
    // The first server's functions still reach out: its bridge was left alone.
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).expect("mkdir");
    std::fs::write(www.join("ok.txt"), "still here").expect("write");
    ns.serve_remote(&www);
    api(
        &ns,
        &first,
        &format!("{}print('{{}}')", deploy_py("fetch", "{}")),
    );
    let r = invoke(
        &ns,
        &first,
        "fetch",
        serde_json::json!({"fetch": "http://198.51.100.1:8080/ok.txt"}),
    );
    assert_eq!(r["fetch"], "still here", "{r}");
}

#[test]
fn each_environment_counts_its_traffic() {
    let mut ns = Namespaces::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).expect("mkdir");
    let size = 1 << 20;
    std::fs::write(www.join("big.bin"), vec![b'x'; size]).expect("write");
    ns.serve_remote(&www);
    let log = dir.path().join("server.log");
    let mut server = start_logging(&ns, dir.path(), "egress = \"nat\"\ndeny = []", Some(&log));
    api(
        &ns,
        &server,
        &format!("{}print('{{}}')", deploy_py("count", "{}")),
    );
    let url = format!("http://{REMOTE_HTTP}:8080/big.bin");
    for _ in 0..3 {
        let r = invoke(&ns, &server, "count", serde_json::json!({ "fetch": url }));
        assert!(
            r["fetch"].as_str().is_some_and(|b| b.len() == size),
            "fetched"
        );
    }
    // Counted when the environment ends: here, with the server.
    server.stop();
    let text = std::fs::read_to_string(&log).expect("log");
    let ended: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("environment ended") && l.contains("/[$LATEST]"))
        .collect();
    let figure = |line: &str, key: &str| -> u64 {
        let at = line
            .find(&format!("{key}="))
            .unwrap_or_else(|| panic!("{key} in {line}"));
        line[at + key.len() + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .expect("a number")
    };
    // One warm environment served the three invocations.
    let busy: Vec<&&str> = ended
        .iter()
        .filter(|l| figure(l, "bytes_received") > 0)
        .collect();
    assert_eq!(busy.len(), 1, "{text}");
    let line = busy[0];
    let received = figure(line, "bytes_received");
    assert!(
        received >= 3 * size as u64 && received < 3 * size as u64 + (256 << 10),
        "{line}"
    );
    assert!(figure(line, "bytes_sent") > 0, "{line}");
    // Three fetches, and the runtime's own Runtime API connection (loopback, counted too).
    let opened = figure(line, "tcp_connections_opened");
    assert!((4..=8).contains(&opened), "{line}");
}

/// A port joining and leaving the bridge (as environments do, made and reaped) must not cut off
/// a warm environment: the bridge keeps one address whatever its ports. Here the port that
/// comes and goes has the lowest address there is, which an unset bridge address would follow
/// and then lose, leaving the warm environment sending to an address nobody has.
#[test]
fn warm_environments_keep_their_route_as_ports_come_and_go() {
    let mut ns = Namespaces::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).expect("mkdir");
    std::fs::write(www.join("ok.txt"), "still here").expect("write");
    ns.serve_remote(&www);
    let server = start(&ns, dir.path(), "egress = \"nat\"\ndeny = []");
    api(
        &ns,
        &server,
        &format!("{}print('{{}}')", deploy_py("warm", "{}")),
    );
    let fetch = serde_json::json!({"fetch": "http://198.51.100.1:8080/ok.txt"});
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = invoke(&ns, &server, "warm", fetch.clone());
        if r["fetch"] == "still here" {
            break;
        }
        assert!(Instant::now() < deadline, "never fetched: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = ns.server.as_str();
    ip(&[
        "-n",
        s,
        "link",
        "add",
        "nxlow",
        "address",
        "00:00:00:00:00:01",
        "type",
        "veth",
        "peer",
        "name",
        "nxlowp",
    ]);
    ip(&["-n", s, "link", "set", "nxlow", "master", "nimbus0", "up"]);
    ip(&["-n", s, "link", "set", "nxlowp", "up"]);
    // The warm environment talks through the bridge while the port is there...
    let r = invoke(&ns, &server, "warm", fetch.clone());
    assert_eq!(r["fetch"], "still here", "with the port: {r}");
    ip(&["-n", s, "link", "del", "nxlow"]);
    // ...and after it has gone.
    let r = invoke(&ns, &server, "warm", fetch);
    assert_eq!(r["fetch"], "still here", "after the port left: {r}");
}
