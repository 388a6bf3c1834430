//! Every execution environment in its own Linux sandbox: one test per escape a hostile function
//! might try, run end to end against the real binary with the default (sandbox) launcher.
//! These need root, as CI has; without it the server refuses to start and they fail loudly.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use support::{zip_of, NimbusProcess, ROLE};

const HOSTILE: &str = r#"
import ctypes, errno, json, os, socket, subprocess, sys, time

def attempt(fn):
    try:
        r = fn()
        return "ok" if r is None else "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    except Exception as e:
        return type(e).__name__

def read(path):
    with open(path, "rb") as f:
        f.read(1)

def write(path):
    with open(path, "w") as f:
        f.write("x")

def connect(host, port):
    s = socket.create_connection((host, port), timeout=1)
    s.close()

libc = ctypes.CDLL(None, use_errno=True)

def sys_errno(ret):
    if ret == 0:
        return "ok"
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))

def clone_newuser():
    pid = libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)
    if pid == 0:
        os._exit(0)
    if pid > 0:
        os.waitpid(pid, 0)
        return "ok"
    return errno.errorcode.get(ctypes.get_errno(), "?")

def handler(event, context):
    act = event.get("act")
    if act == "read":
        return {p: attempt(lambda p=p: read(p)) for p in event["paths"]}
    if act == "write":
        return {p: attempt(lambda p=p: write(p)) for p in event["paths"]}
    if act == "procs":
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        return {"pids": pids, "uid": os.getuid(), "euid": os.geteuid()}
    if act == "connect":
        return {f"{h}:{p}": attempt(lambda h=h, p=p: connect(h, p)) for h, p in event["targets"]}
    if act == "privileged":
        os.makedirs("/tmp/m", exist_ok=True)
        return {
            "mount": sys_errno(libc.mount(b"tmpfs", b"/tmp/m", b"tmpfs", 0, None)),
            "umount": sys_errno(libc.umount2(b"/var/task", 2)),
            "unshare_user": sys_errno(libc.unshare(0x10000000)),
            "unshare_mount": sys_errno(libc.unshare(0x00020000)),
            "clone_newuser": clone_newuser(),
            "ptrace_attach_init": sys_errno(libc.ptrace(16, 1, None, None)),
            "init_module": sys_errno(libc.syscall(175, None, 0, b"")),
            "setuid_root": attempt(lambda: os.setuid(0)),
            "setgid_root": attempt(lambda: os.setgid(0)),
            "chroot": sys_errno(libc.chroot(b"/tmp")),
            "mknod": sys_errno(libc.mknod(b"/tmp/dev", 0o20666, 0x0103)),
            "caps": open("/proc/self/status").read().split("CapEff:")[1].split()[0],
            "no_new_privs": open("/proc/self/status").read().split("NoNewPrivs:")[1].split()[0],
        }
    if act == "kernel":
        def sock(family, kind):
            s = socket.socket(family, kind, 0)
            s.close()
        def first_bytes(path):
            try:
                with open(path, "rb") as f:
                    return len(f.read(4096))
            except FileNotFoundError:
                return "absent"
        return {
            "vsock": attempt(lambda: sock(40, socket.SOCK_STREAM)),
            "alg": attempt(lambda: sock(38, socket.SOCK_SEQPACKET)),
            "packet": attempt(lambda: sock(17, socket.SOCK_RAW)),
            "netlink": attempt(lambda: sock(16, socket.SOCK_RAW)),
            "inet": attempt(lambda: sock(socket.AF_INET, socket.SOCK_STREAM)),
            "unix": attempt(lambda: sock(socket.AF_UNIX, socket.SOCK_STREAM)),
            "io_uring_setup": sys_errno(libc.syscall(425, 1, ctypes.create_string_buffer(120))),
            "personality": sys_errno(libc.syscall(135, 0x0400000)),
            "kcore_bytes": first_bytes("/proc/kcore"),
            "keys_bytes": first_bytes("/proc/keys"),
            "kallsyms_bytes": first_bytes("/proc/kallsyms"),
            "sysrq": attempt(lambda: write("/proc/sysrq-trigger")),
            "proc_sys": attempt(lambda: write("/proc/sys/kernel/hostname")),
            "mountpoints": [l.split()[4] for l in open("/proc/self/mountinfo")],
            "mount_roots": [[l.split()[3], l.split()[4]] for l in open("/proc/self/mountinfo")],
            "task_listing": sorted(os.listdir("/var/task")),
        }
    if act == "fork_many":
        n = 0
        err = None
        while n < 5000:
            try:
                pid = os.fork()
            except OSError as e:
                err = errno.errorcode.get(e.errno)
                break
            if pid == 0:
                time.sleep(600)
                os._exit(0)
            n += 1
        return {"forked": n, "error": err}
    if act == "fork_bomb":
        while True:
            try:
                os.fork()
            except OSError:
                pass
    if act == "eat_memory":
        hog = []
        while True:
            hog.append(bytearray(8 << 20))
    if act == "fill_tmp":
        st = os.statvfs("/tmp")
        written = 0
        try:
            with open("/tmp/fill", "wb") as f:
                chunk = b"\xab" * (1 << 20)
                while written < (event["mb"] << 20):
                    f.write(chunk)
                    written += len(chunk)
                f.flush()
                os.fsync(f.fileno())
            result = "ok"
        except OSError as e:
            result = errno.errorcode.get(e.errno)
        os.remove("/tmp/fill")
        return {"result": result, "written_mb": written >> 20, "size_mb": st.f_blocks * st.f_frsize >> 20}
    if act == "linger":
        subprocess.Popen(["/usr/bin/sleep", event["marker"]])
        time.sleep(30)
    if act == "nap":
        started = time.time()
        time.sleep(2)
        return {"started": started, "uid": os.getuid()}
    if act == "flood":
        # Hostile use of our own Runtime API: as many idle connections as it takes, and
        # endless bodies posted under wrong request ids, for `seconds`.
        import threading
        api = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
        addr = (api[0], int(api[1]))
        idle, stop = [], time.time() + event["seconds"]
        for _ in range(event["connections"]):
            try:
                idle.append(socket.create_connection(addr, timeout=0.2))
            except OSError:
                break
        refused = [0]
        def post_forever():
            while time.time() < stop:
                try:
                    s = socket.create_connection(addr, timeout=0.5)
                    s.sendall(b"POST /2018-06-01/runtime/invocation/not-this-one/response HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000\r\n\r\n")
                    chunk = b"x" * 65536
                    while time.time() < stop:
                        s.sendall(chunk)
                except OSError:
                    refused[0] += 1
                    time.sleep(0.01)
        threads = [threading.Thread(target=post_forever) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in idle:
            c.close()
        return {"connected": len(idle), "cut_off": refused[0]}
    if act == "tmp_private":
        me = context.aws_request_id
        open("/tmp/" + me, "w").write(me)
        time.sleep(1)
        return sorted(os.listdir("/tmp"))
    return {"hello": True, "pid": os.getpid()}
"#;

fn deploy(server: &NimbusProcess, name: &str, extra: Value) -> Value {
    let mut body = json!({
        "FunctionName": name, "Runtime": "python3.12", "Role": ROLE, "Handler": "app.handler",
        "Timeout": 10,
        "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip_of(&[("app.py", HOSTILE.as_bytes())])) },
    });
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let (status, created) = server
        .call("POST", "/2015-03-31/functions", Some(&body))
        .expect("create");
    assert_eq!(status, 201, "{created}");
    wait_active(server, name)
}

fn wait_active(server: &NimbusProcess, name: &str) -> Value {
    for _ in 0..500 {
        let (_, c) = server
            .call(
                "GET",
                &format!("/2015-03-31/functions/{name}/configuration"),
                None,
            )
            .expect("get");
        if c["State"] == "Active" && c["LastUpdateStatus"] == "Successful" {
            return c;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{name} never became Active");
}

fn invoke(server: &NimbusProcess, name: &str, event: Value) -> Value {
    let (status, body) = server
        .call(
            "POST",
            &format!("/2015-03-31/functions/{name}/invocations"),
            Some(&event),
        )
        .expect("invoke");
    assert_eq!(status, 200, "{body}");
    body
}

/// The server under test. With `NIMBUS_TEST_EGRESS=nat` (`./scripts/test.sh` runs this file
/// a second time so, inside a network namespace of its own) its environments have egress.
fn start() -> (tempfile::TempDir, NimbusProcess) {
    start_with("")
}

/// [`start`] with more configuration (top-level keys).
fn start_with(config_lines: &str) -> (tempfile::TempDir, NimbusProcess) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let network = match std::env::var("NIMBUS_TEST_EGRESS").as_deref() {
        Ok("nat") => {
            // Servers side by side in one namespace, each with its own bridge and range, as
            // the server requires.
            static SERVERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            format!(
                "[network]\negress = \"nat\"\nbridge = \"nbtest{n}\"\nsubnet = \"10.214.{n}.0/24\"\n"
            )
        }
        Ok(other) if !other.is_empty() => panic!("NIMBUS_TEST_EGRESS={other}: only nat"),
        _ => String::new(),
    };
    if config_lines.is_empty() && network.is_empty() {
        return (dir, NimbusProcess::start(&data));
    }
    let config = dir.path().join("nimbus.toml");
    std::fs::write(&config, format!("{config_lines}\n{network}")).expect("config");
    let server = NimbusProcess::start_with_config(&data, &config);
    (dir, server)
}

fn denied(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s != "ok")
}

#[test]
fn cannot_read_host_secrets_data_or_other_code() {
    let (_dir, server) = start();
    let other = deploy(&server, "other", json!({}));
    deploy(&server, "snoop", json!({}));
    let sha = base64::engine::general_purpose::STANDARD
        .decode(other["CodeSha256"].as_str().expect("sha"))
        .expect("b64");
    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    let data = server.data_dir.display().to_string();
    // This server took its keys from the environment: give it a credentials file all the same,
    // so that the read below is of a file that exists on the host.
    std::fs::write(
        format!("{data}/credentials"),
        "[nimbus]\naws_secret_access_key = x\n",
    )
    .expect("credentials");
    let paths = [
        "/etc/shadow".to_string(),
        format!("{data}/credentials"),
        format!("{data}/nimbus.db"),
        format!("{data}/code/pkgs/{hex}/app.py"),
        format!("{data}/code/zips/{hex}.zip"),
        "/root/.bashrc".to_string(),
        "/var/task/app.py".to_string(),
        "/etc/passwd".to_string(),
    ];
    let r = invoke(&server, "snoop", json!({ "act": "read", "paths": paths }));
    for p in &paths[..6] {
        assert!(
            Path::new(p).exists() || p.contains(".bashrc") || p == "/etc/shadow",
            "{p} is on the host"
        );
        assert!(denied(&r[p]), "{p} was readable: {r}");
    }
    assert_eq!(r["/var/task/app.py"], "ok", "its own code is readable: {r}");
    assert_eq!(r["/etc/passwd"], "ok", "the generated /etc is there: {r}");
}

#[test]
fn cannot_write_code_or_anything_outside_tmp() {
    let (_dir, server) = start();
    deploy(&server, "scribble", json!({}));
    let paths = [
        "/var/task/app.py",
        "/var/task/new.py",
        "/etc/passwd",
        "/usr/bin/evil",
        "/opt/evil",
        "/evil",
        "/var/runtime/bootstrap.py",
        "/tmp/fine",
    ];
    let r = invoke(
        &server,
        "scribble",
        json!({ "act": "write", "paths": paths }),
    );
    for p in &paths[..7] {
        assert!(denied(&r[p]), "{p} was writable: {r}");
    }
    assert_eq!(r["/tmp/fine"], "ok", "{r}");
}

#[test]
fn cannot_see_host_processes_and_runs_unprivileged() {
    let (_dir, server) = start();
    deploy(&server, "peek", json!({}));
    let r = invoke(&server, "peek", json!({ "act": "procs" }));
    let pids: Vec<u64> = r["pids"]
        .as_array()
        .expect("pids")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert!(
        pids.len() <= 3,
        "only the sandbox's own processes: {pids:?}"
    );
    assert!(pids.contains(&1));
    assert!(!pids.contains(&u64::from(server.pid())) || server.pid() <= 3);
    let uid = r["uid"].as_u64().expect("uid");
    assert!(
        (3_000_000_000..3_001_000_000).contains(&uid),
        "a uid of the default sandbox range, clear of /etc/subuid: {uid}"
    );
    assert_eq!(r["uid"], r["euid"]);
}

#[test]
fn cannot_reach_the_api_or_any_host_port() {
    let (_dir, server) = start();
    deploy(&server, "net", json!({}));
    let host_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let host_port = host_listener.local_addr().expect("addr").port();
    let targets = [
        ("127.0.0.1", server.addr.port()),
        ("127.0.0.1", host_port),
        ("127.0.0.1", 9001),
    ];
    let r = invoke(
        &server,
        "net",
        json!({ "act": "connect", "targets": targets }),
    );
    assert!(
        denied(&r[format!("127.0.0.1:{}", server.addr.port())]),
        "reached the Nimbus API: {r}"
    );
    assert!(
        denied(&r[format!("127.0.0.1:{host_port}")]),
        "reached a host port: {r}"
    );
    assert_eq!(
        r["127.0.0.1:9001"], "ok",
        "the Runtime API is reachable: {r}"
    );
}

#[test]
fn cannot_mount_unshare_ptrace_load_modules_or_change_uid() {
    let (_dir, server) = start();
    deploy(&server, "root", json!({}));
    let r = invoke(&server, "root", json!({ "act": "privileged" }));
    for key in [
        "mount",
        "umount",
        "unshare_user",
        "unshare_mount",
        "clone_newuser",
        "ptrace_attach_init",
        "init_module",
        "setuid_root",
        "setgid_root",
        "chroot",
        "mknod",
    ] {
        assert!(denied(&r[key]), "{key} succeeded: {r}");
    }
    assert_eq!(r["caps"], "0000000000000000", "no capabilities: {r}");
    assert_eq!(r["no_new_privs"], "1", "{r}");
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn fork_bombs_hit_the_pids_limit_and_the_server_stays_responsive() {
    let (_dir, server) = start();
    // The server keeps two sandbox helpers started ahead of need, one process each, for each
    // kind of network it gives (with egress: also loopback-only, for functions that opt out).
    let idle = if std::env::var("NIMBUS_TEST_EGRESS").as_deref() == Ok("nat") {
        4
    } else {
        2
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while host_footprint(&server).3 != idle && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Enough memory that processes, not memory, run out first.
    deploy(
        &server,
        "forks",
        json!({ "Timeout": 20, "MemorySize": 3008 }),
    );
    let r = invoke(&server, "forks", json!({ "act": "fork_many" }));
    eprintln!("fork_many: {r}");
    let forked = r["forked"].as_u64().expect("forked");
    assert!(forked < 1024, "the pids limit holds: {r}");
    assert_eq!(r["error"], "EAGAIN", "{r}");

    deploy(&server, "bomb", json!({ "Timeout": 3 }));
    deploy(&server, "calm", json!({}));
    let addr = server.addr;
    let bomb = std::thread::spawn(move || {
        support::call(
            addr,
            "POST",
            "/2015-03-31/functions/bomb/invocations",
            Some(&json!({ "act": "fork_bomb" })),
        )
        .expect("invoke")
    });
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    assert_eq!(
        invoke(&server, "calm", json!({}))["hello"],
        true,
        "other functions still run"
    );
    eprintln!("an invocation during the fork bomb took {:?}", t.elapsed());
    let (status, body) = bomb.join().expect("bomb thread");
    assert_eq!(status, 200);
    // Stopped by its timeout, or, with the CPU free to use (`weighted`), by its memory
    // limit first: a thousand interpreters do not fit in 128 MB.
    assert!(
        body["errorType"] == "Sandbox.Timedout" || body["errorType"] == "Runtime.OutOfMemory",
        "{body}"
    );
    // Everything ends with its environments.
    for f in ["forks", "bomb", "calm"] {
        assert_eq!(
            server
                .call("DELETE", &format!("/2015-03-31/functions/{f}"), None)
                .expect("delete")
                .0,
            204
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while host_footprint(&server).3 != idle && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        host_footprint(&server).3,
        idle,
        "sandbox processes left: {:?}",
        host_footprint(&server)
    );
}

#[test]
fn memory_exhaustion_is_killed_at_memory_size_and_reported() {
    let (_dir, server) = start();
    deploy(&server, "hog", json!({ "MemorySize": 128, "Timeout": 20 }));
    let (status, body) = server
        .call(
            "POST",
            "/2015-03-31/functions/hog/invocations",
            Some(&json!({ "act": "eat_memory" })),
        )
        .expect("invoke");
    assert_eq!(status, 200);
    assert_eq!(body["errorType"], "Runtime.OutOfMemory", "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .expect("msg")
            .ends_with("Error: Runtime exited with error: signal: killed"),
        "{body}"
    );
    // The next invocation gets a fresh environment and works.
    assert_eq!(invoke(&server, "hog", json!({}))["hello"], true);
}

#[test]
fn tmp_is_limited_by_ephemeral_storage_and_not_charged_as_memory() {
    let (_dir, server) = start();
    deploy(
        &server,
        "disk",
        json!({ "MemorySize": 128, "EphemeralStorage": { "Size": 512 }, "Timeout": 120 }),
    );
    let r = invoke(&server, "disk", json!({ "act": "fill_tmp", "mb": 700 }));
    assert_eq!(r["result"], "ENOSPC", "{r}");
    let size = r["size_mb"].as_u64().expect("size");
    assert!(
        (480..=512).contains(&size),
        "/tmp is EphemeralStorage-sized: {r}"
    );
    let written = r["written_mb"].as_u64().expect("written");
    assert!(
        written > 300,
        "far more than MemorySize was written without an OOM kill: {r}"
    );
}

#[test]
fn nothing_outlives_a_timeout() {
    let (_dir, server) = start();
    deploy(&server, "linger", json!({ "Timeout": 1 }));
    let marker = format!("{}", 1_000_000 + std::process::id());
    let (_, body) = server
        .call(
            "POST",
            "/2015-03-31/functions/linger/invocations",
            Some(&json!({ "act": "linger", "marker": marker })),
        )
        .expect("invoke");
    // Stopped by its timeout, or, with the CPU free to use (`weighted`), by its memory
    // limit first: a thousand interpreters do not fit in 128 MB.
    assert!(
        body["errorType"] == "Sandbox.Timedout" || body["errorType"] == "Runtime.OutOfMemory",
        "{body}"
    );
    let lingering = || {
        std::fs::read_dir("/proc")
            .expect("proc")
            .flatten()
            .any(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(&marker))
                    .unwrap_or(false)
            })
    };
    wait_for("the background process to end", || !lingering());
}

#[test]
fn tmp_is_private_to_each_environment() {
    let (_dir, server) = start();
    deploy(&server, "private", json!({}));
    let addr = server.addr;
    let calls: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                support::call(
                    addr,
                    "POST",
                    "/2015-03-31/functions/private/invocations",
                    Some(&json!({ "act": "tmp_private" })),
                )
                .expect("invoke")
                .1
            })
        })
        .collect();
    for c in calls {
        let listing = c.join().expect("thread");
        assert_eq!(
            listing.as_array().map(Vec::len),
            Some(1),
            "saw another environment's /tmp: {listing}"
        );
    }
}

/// What this server's sandboxes hold on the host: loop devices backed by files in its data
/// directory, mounts in its mount namespace, environment cgroups under its scope, processes in
/// those cgroups, and the server's own open descriptors (sockets, pipes, namespace handles).
/// This server's cgroup scope in the pids hierarchy (v1, or the unified one).
fn cgroup_scope(server: &NimbusProcess) -> std::path::PathBuf {
    cgroup_scope_of(server, "pids")
}

/// This server's cgroup scope in `controller`'s hierarchy (v1, or the unified one).
fn cgroup_scope_of(server: &NimbusProcess, controller: &str) -> std::path::PathBuf {
    let pid = server.pid();
    let data = std::fs::canonicalize(&server.data_dir).expect("data dir");
    let scope: String = {
        use sha2::Digest;
        sha2::Sha256::digest(data.as_os_str().as_encoded_bytes())[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    // One directory per environment (and per standby helper) in each hierarchy; the pids one
    // stands for all three: its v1 hierarchy, or the unified one when pids is a v2 controller.
    let line = |pred: &dyn Fn(&str, &str) -> bool| {
        own.lines().find_map(|l| {
            let mut p = l.splitn(3, ':');
            let (id, c, path) = (p.next()?, p.next()?, p.next()?);
            pred(id, c).then(|| path.trim_start_matches('/').to_string())
        })
    };
    let base = match line(&|_, c| c.split(',').any(|x| x == controller)) {
        Some(path) => Path::new("/sys/fs/cgroup").join(controller).join(path),
        None => Path::new("/sys/fs/cgroup")
            .join(line(&|id, c| id == "0" && c.is_empty()).unwrap_or_default()),
    }
    .join("nimbus")
    .join(&scope);
    base
}

fn host_footprint(server: &NimbusProcess) -> (usize, usize, usize, usize, usize, usize) {
    let pid = server.pid();
    let data = std::fs::canonicalize(&server.data_dir).expect("data dir");
    let loops = std::fs::read_dir("/sys/block")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    std::fs::read_to_string(e.path().join("loop/backing_file"))
                        .is_ok_and(|b| b.starts_with(&*data.to_string_lossy()))
                })
                .count()
        })
        .unwrap_or(0);
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .map(|m| m.lines().count())
        .unwrap_or(0);
    let base = cgroup_scope(server);
    let (mut cgroups, mut procs) = (0, 0);
    // The server's own scope exists while it runs: a count of 0 is never a wrong path's.
    assert!(base.is_dir(), "no cgroup scope at {}", base.display());
    for env in std::fs::read_dir(&base)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
    {
        cgroups += 1;
        procs += std::fs::read_to_string(env.path().join("cgroup.procs"))
            .map(|p| p.lines().count())
            .unwrap_or(0);
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    // With egress, the ports of the server's bridge: a veth per sandbox, standby helpers'
    // included (other tests' servers share the namespace, each with its own bridge).
    let config = server.data_dir.with_file_name("nimbus.toml");
    let bridge = std::fs::read_to_string(config).ok().and_then(|c| {
        c.lines()
            .find_map(|l| l.strip_prefix("bridge = "))
            .map(|b| b.trim_matches('"').to_string())
    });
    let interfaces = bridge.map_or(0, |b| {
        let out = std::process::Command::new("ip")
            .args(["-o", "link", "show", "master", &b])
            .output()
            .expect("ip link");
        assert!(out.status.success(), "ip link show master {b}");
        String::from_utf8_lossy(&out.stdout).lines().count()
    });
    (loops, mounts, cgroups, procs, fds, interfaces)
}

#[test]
fn two_hundred_cold_starts_leave_nothing_behind() {
    let (_dir, server) = start();
    deploy(&server, "churn", json!({}));
    // One cold start first, so that the pool of prepared /tmp file systems is at its size.
    let first = invoke(&server, "churn", json!({}));
    assert_eq!(first["hello"], true, "{first}");
    assert_eq!(
        server
            .call("DELETE", "/2015-03-31/functions/churn", None)
            .expect("delete")
            .0,
        204
    );
    std::thread::sleep(Duration::from_millis(500));
    let before = host_footprint(&server);
    deploy(&server, "churn", json!({}));
    let mut pids = BTreeSet::new();
    for i in 0..200 {
        // A configuration change makes the next invocation a cold start in a new sandbox.
        let (status, _) = server
            .call(
                "PUT",
                "/2015-03-31/functions/churn/configuration",
                Some(&json!({ "Description": format!("round {i}") })),
            )
            .expect("update");
        assert_eq!(status, 200);
        wait_active(&server, "churn");
        let r = invoke(&server, "churn", json!({}));
        assert_eq!(r["hello"], true, "round {i}: {r}");
        pids.insert(r["pid"].to_string());
    }
    assert_eq!(
        server
            .call("DELETE", "/2015-03-31/functions/churn", None)
            .expect("delete")
            .0,
        204
    );
    // Descriptors vary a little with pooled database and client connections, but a leak per
    // environment would show as hundreds after 200 cold starts.
    let settled = |a: &(usize, usize, usize, usize, usize, usize)| {
        (a.0, a.1, a.2, a.3, a.5) == (before.0, before.1, before.2, before.3, before.5)
            && a.4 <= before.4 + 8
    };
    let mut after = host_footprint(&server);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !settled(&after) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        after = host_footprint(&server);
    }
    assert!(
        settled(&after),
        "(loop devices, mounts, environment cgroups, sandbox processes, server descriptors, network interfaces) before {before:?} and after {after:?} 200 cold starts"
    );
    assert_eq!(
        pids.len(),
        1,
        "every cold start is a fresh pid namespace: the runtime is always pid 2"
    );
}

#[test]
fn function_secrets_are_on_no_command_line() {
    let (_dir, server) = start();
    let secret = format!("s3cr3t-{}", std::process::id());
    deploy(
        &server,
        "secretive",
        json!({ "Environment": { "Variables": { "API_TOKEN": secret } } }),
    );
    let addr = server.addr;
    let call = std::thread::spawn(move || {
        support::call(
            addr,
            "POST",
            "/2015-03-31/functions/secretive/invocations",
            Some(&json!({ "act": "tmp_private" })),
        )
        .expect("invoke")
    });
    std::thread::sleep(Duration::from_millis(500));
    let exposed: Vec<String> = std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&secret))
                .unwrap_or(false)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(call.join().expect("thread").0, 200);
    assert!(
        exposed.is_empty(),
        "processes show the secret in their command line: {exposed:?}"
    );
}

#[test]
fn concurrent_cold_starts_each_get_a_sandbox_and_none_waits() {
    let (_dir, server) = start();
    deploy(&server, "crowd", json!({ "Timeout": 20 }));
    let addr = server.addr;
    let t = Instant::now();
    let calls: Vec<_> = (0..12)
        .map(|_| {
            std::thread::spawn(move || {
                support::call(
                    addr,
                    "POST",
                    "/2015-03-31/functions/crowd/invocations",
                    Some(&json!({ "act": "nap" })),
                )
                .expect("invoke")
                .1
            })
        })
        .collect();
    let results: Vec<Value> = calls
        .into_iter()
        .map(|c| c.join().expect("thread"))
        .collect();
    eprintln!(
        "12 concurrent 2 s invocations in sandboxes took {:?}",
        t.elapsed()
    );
    let uids: BTreeSet<u64> = results.iter().filter_map(|r| r["uid"].as_u64()).collect();
    assert_eq!(
        uids.len(),
        12,
        "each in its own sandbox (own uid): {results:?}"
    );
    let starts: Vec<f64> = results
        .iter()
        .filter_map(|r| r["started"].as_f64())
        .collect();
    let first = starts.iter().cloned().fold(f64::MAX, f64::min);
    let last = starts.iter().cloned().fold(f64::MIN, f64::max);
    assert!(
        last < first + 2.0,
        "an invocation waited for another: starts spread over {:.2} s",
        last - first
    );
}

/// Descriptors the server process holds open.
fn open_fds(server: &NimbusProcess) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .map(Iterator::count)
        .unwrap_or(0)
}

#[test]
fn a_runtime_api_flood_slows_no_other_function_and_no_api_call() {
    let (_dir, server) = start();
    deploy(&server, "flood", json!({ "Timeout": 30 }));
    deploy(&server, "calm", json!({}));
    // Warm both and settle the server's own descriptors (pools, helpers).
    invoke(&server, "calm", json!({}));
    invoke(&server, "flood", json!({}));
    std::thread::sleep(Duration::from_millis(500));
    let before = open_fds(&server);
    let addr = server.addr;
    let flood = std::thread::spawn(move || {
        support::call(
            addr,
            "POST",
            "/2015-03-31/functions/flood/invocations",
            Some(&json!({ "act": "flood", "seconds": 6, "connections": 900 })),
        )
        .expect("invoke")
    });
    std::thread::sleep(Duration::from_millis(1500));
    let mut most_fds = 0;
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(invoke(&server, "calm", json!({}))["hello"], true);
        let invoke_took = t.elapsed();
        let t = Instant::now();
        let (status, list) = server
            .call("GET", "/2015-03-31/functions", None)
            .expect("list");
        let list_took = t.elapsed();
        assert_eq!(status, 200, "{list}");
        eprintln!("during the flood: invoke {invoke_took:?}, ListFunctions {list_took:?}");
        assert!(
            invoke_took < Duration::from_secs(1),
            "invoke took {invoke_took:?}"
        );
        assert!(
            list_took < Duration::from_secs(1),
            "ListFunctions took {list_took:?}"
        );
        most_fds = most_fds.max(open_fds(&server));
        std::thread::sleep(Duration::from_millis(500));
    }
    let (status, body) = flood.join().expect("flood thread");
    assert_eq!(status, 200, "{body}");
    eprintln!("flood: {body}; server descriptors {before} before, at most {most_fds} during");
    // One environment's connections are capped (16): the rest wait in its own backlog.
    assert!(
        most_fds <= before + 24,
        "the server's descriptors grew from {before} to {most_fds}"
    );
    assert_eq!(
        invoke(&server, "flood", json!({}))["hello"],
        true,
        "the flooder still works"
    );
}

#[test]
fn kernel_interfaces_are_out_of_reach() {
    let (_dir, server) = start();
    deploy(&server, "kernel", json!({}));
    let r = invoke(&server, "kernel", json!({ "act": "kernel" }));
    eprintln!("{r:#}");
    // Refused by the seccomp policy itself (EPERM), not merely unsupported here.
    for refused in [
        "vsock",
        "alg",
        "packet",
        "netlink",
        "io_uring_setup",
        "personality",
    ] {
        assert_eq!(r[refused], "EPERM", "{refused}: {r}");
    }
    // Read-only mounts (an unprivileged user alone would get EACCES).
    assert_eq!(r["proc_sys"], "EROFS", "{r}");
    assert!(denied(&r["sysrq"]), "{r}");
    assert_eq!(r["inet"], "ok", "{r}");
    assert_eq!(r["unix"], "ok", "{r}");
    // Covered by /dev/null (or not built into this kernel at all): nothing to read.
    for masked in ["kcore_bytes", "keys_bytes", "kallsyms_bytes"] {
        assert!(r[masked] == 0 || r[masked] == "absent", "{masked}: {r}");
    }
    assert_eq!(
        r["kallsyms_bytes"], 0,
        "kallsyms exists everywhere, and is masked"
    );
    // Only the sandbox's own mounts: nothing of the host's mount table.
    let points: BTreeSet<&str> = r["mountpoints"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for p in &points {
        assert!(
            [
                "/",
                "/usr",
                "/lib",
                "/lib64",
                "/lib32",
                "/libx32",
                "/bin",
                "/sbin",
                "/etc/ld.so.cache",
                "/var/task",
                "/var/runtime",
                "/tmp",
                "/dev"
            ]
            .contains(p)
                || p.starts_with("/proc")
                || p.starts_with("/dev/"),
            "unexpected mount point {p}: {points:?}"
        );
    }
    // No mount shows where its files live on the host: code, runtime files and the SDK are
    // file systems of their own (root `/`); the host's system directories appear at their own
    // paths; devices by their own names.
    let data = std::fs::canonicalize(&server.data_dir).expect("data dir");
    for pair in r["mount_roots"].as_array().expect("roots") {
        let (root, point) = (
            pair[0].as_str().expect("root"),
            pair[1].as_str().expect("point"),
        );
        let shown_as_itself = root == "/"
            || root == point
            // /dev/null and friends, and the /proc entries masked with /dev/null.
            || (root == "/null" && point.starts_with("/proc/"))
            || (point.starts_with("/dev/") && Some(root) == point.strip_prefix("/dev"))
            // /proc/sys and friends, bound read-only onto themselves within /proc.
            || Some(root) == point.strip_prefix("/proc");
        assert!(
            shown_as_itself,
            "{point} shows its host source {root}: {}",
            r["mount_roots"]
        );
        assert!(!root.contains(data.to_string_lossy().as_ref()), "{root}");
    }
    for point in ["/var/task", "/var/runtime"] {
        assert!(
            r["mount_roots"]
                .as_array()
                .expect("roots")
                .iter()
                .any(|p| p[0] == "/" && p[1] == point),
            "{point} is no file system of its own: {}",
            r["mount_roots"]
        );
    }
    // The code is the package and nothing else (mkfs's lost+found is gone).
    assert_eq!(r["task_listing"], json!(["app.py"]), "{r}");
}

#[test]
fn a_stopped_server_leaves_no_cgroup_scope() {
    let (_dir, server) = start();
    deploy(&server, "f", json!({}));
    invoke(&server, "f", json!({}));
    let scope = cgroup_scope(&server);
    assert!(scope.is_dir());
    drop(server);
    assert!(!scope.exists(), "{} left behind", scope.display());
}

/// Many hostile environments at once (memory hogs, process hoarders, /tmp fillers) meet the
/// ceiling on all environments together, which the kernel holds on the server's scope, and
/// the server keeps answering the API throughout.
#[test]
fn hostile_environments_together_stay_under_the_ceiling_and_the_server_answers() {
    const MEMORY_MIB: u64 = 768;
    const PIDS: u64 = 700;
    let (_dir, server) = start_with(&format!(
        "environments_memory_mib = {MEMORY_MIB}\nenvironments_pids = {PIDS}\n"
    ));
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let pids_scope = cgroup_scope_of(&server, "pids");
    assert_eq!(read(&pids_scope.join("pids.max")), PIDS.to_string());
    let memory_scope = cgroup_scope_of(&server, "memory");
    let (limit_file, peak_file) = if memory_scope.join("memory.limit_in_bytes").exists() {
        ("memory.limit_in_bytes", "memory.max_usage_in_bytes")
    } else {
        ("memory.max", "memory.peak")
    };
    assert_eq!(
        read(&memory_scope.join(limit_file)),
        (MEMORY_MIB << 20).to_string()
    );

    deploy(&server, "hog", json!({ "MemorySize": 512, "Timeout": 15 }));
    deploy(
        &server,
        "hoard",
        json!({ "MemorySize": 1024, "Timeout": 15 }),
    );
    deploy(
        &server,
        "fill",
        json!({ "MemorySize": 128, "EphemeralStorage": { "Size": 512 }, "Timeout": 60 }),
    );
    let addr = server.addr;
    let mut work = Vec::new();
    // The hoarders a moment after the others, so that those have mostly started before the
    // process ceiling is reached (which of them start first stays the kernel's business).
    for (name, event, n) in [
        ("hog", json!({ "act": "eat_memory" }), 4),
        ("fill", json!({ "act": "fill_tmp", "mb": 700 }), 2),
        ("hoard", json!({ "act": "fork_many" }), 3),
    ] {
        if name == "hoard" {
            std::thread::sleep(Duration::from_millis(300));
        }
        for _ in 0..n {
            let event = event.clone();
            work.push(std::thread::spawn(move || {
                let path = format!("/2015-03-31/functions/{name}/invocations");
                (
                    name,
                    support::call(addr, "POST", &path, Some(&event)).expect("invoke"),
                )
            }));
        }
    }
    // The API answers while they run.
    let mut slowest = Duration::ZERO;
    while work.iter().any(|t| !t.is_finished()) {
        let t = Instant::now();
        let (status, listed) = server
            .call("GET", "/2015-03-31/functions/", None)
            .expect("list");
        let took = t.elapsed();
        assert_eq!(status, 200, "{listed}");
        assert!(took < Duration::from_secs(1), "ListFunctions took {took:?}");
        slowest = slowest.max(took);
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("slowest ListFunctions while they ran: {slowest:?}");
    let mut forked = 0;
    for t in work {
        let (name, (status, body)) = t.join().expect("invoke thread");
        eprintln!("{name}: {status} {body}");
        // An environment that could not even start while the hoarders held every process the
        // ceiling allows is refused as the server's lack of capacity, in plain words.
        if status == 500 {
            assert!(
                body["Message"]
                    .as_str()
                    .is_some_and(|m| m.contains("no capacity for another execution environment")),
                "{name}: {body}"
            );
            continue;
        }
        assert_eq!(status, 200, "{name}: {body}");
        if name == "hoard" {
            forked += body["forked"].as_u64().unwrap_or(0);
        }
        if name == "fill" && body.get("errorType").is_none() {
            // One that ran filled its own /tmp, and nothing else. (One may also have been the
            // kernel's victim of the memory ceiling, or found no process left to start with:
            // a function error, answered.)
            assert_eq!(body["result"], "ENOSPC", "{body}");
        }
    }
    // The hoarders' processes outlive their invocations (they sleep in the environments):
    // together they stayed under the ceiling, below what three environments' own limits allow.
    assert!(forked < PIDS, "{forked} processes forked in all");
    let peak: u64 = read(&memory_scope.join(peak_file)).parse().unwrap_or(0);
    eprintln!("peak memory of all environments: {} MiB", peak >> 20);
    assert!(peak > 0 && peak <= MEMORY_MIB << 20, "peak {peak}");
    // Once the hoarders' environments are gone, new environments start again.
    let (status, _) = server
        .call("DELETE", "/2015-03-31/functions/hoard", None)
        .expect("delete");
    assert_eq!(status, 204);
    wait_for("the hoarders' processes to end", || {
        read(&pids_scope.join("pids.current"))
            .parse::<u64>()
            .is_ok_and(|n| n < 100)
    });
    assert_eq!(invoke(&server, "hog", json!({}))["hello"], true);
}
