"""The Python half of bench/load.sh: everything that needs botocore or /proc.

    load_helper.py deploy     --endpoint URL --name N --runtime R --handler H --dir D
    load_helper.py presign    --url URL --lua OUT.lua --headers OUT.txt [--body '{}'] [--header K:V ...]
    load_helper.py check      --endpoint URL --name N --expect TEXT      (one signed invoke)
    load_helper.py cold       --endpoint URL --name N --n 20 --results F --mode M
    load_helper.py pybase     --n 20 --results F --mode M --imports 'a, b'
    load_helper.py envs       --server-pid PID --results F --mode M --stage S [--scopes FILE]
    load_helper.py record-wrk --results F --mode M --target T --conc C --file WRK_OUTPUT
    load_helper.py record     --results F --json '{...}'
    load_helper.py cleanup-cgroups --scopes FILE
    load_helper.py report     --results F

Credentials come the way the AWS CLI finds them: AWS_SHARED_CREDENTIALS_FILE + AWS_PROFILE
(load.sh points them at the server's generated `<data-dir>/credentials`, profile `nimbus`).
"""

import argparse
import base64
import http.client
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
import zipfile

REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/nimbus-bench"
MEMORY = 128  # Lambda's default MemorySize


def fail(msg):
    print(f"load_helper: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def note(msg):
    print(f"  {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# AWS side: a botocore client and SigV4 signing, as any SDK user would have them.

def _session():
    import botocore.session

    return botocore.session.get_session()


def _credentials():
    creds = _session().get_credentials()
    if creds is None:
        fail("no credentials (AWS_SHARED_CREDENTIALS_FILE / AWS_PROFILE)")
    return creds.get_frozen_credentials()


def _client(endpoint):
    from botocore.config import Config

    return _session().create_client(
        "lambda",
        region_name=REGION,
        endpoint_url=endpoint,
        config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 1}),
    )


def sign(url, body=b"{}", extra=None):
    """Headers of a SigV4-signed POST of `body` to `url` (Host included, Content-Length not)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    host = urllib.parse.urlsplit(url).netloc
    headers = {"Host": host, "Content-Type": "application/json"}
    headers.update(extra or {})
    req = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(_credentials(), "lambda", REGION).add_auth(req)
    return {k: v for k, v in req.headers.items() if k.lower() != "content-length"}


def invoke_url(endpoint, name):
    return f"{endpoint}/2015-03-31/functions/{name}/invocations"


def post(url, headers, body=b"{}", timeout=60):
    """One POST on a fresh connection; (status, headers, body, seconds), timed end to end."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        t = time.perf_counter()
        conn.request("POST", u.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        took = time.perf_counter() - t
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, took
    finally:
        conn.close()


def _zip_dir(path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for root, _dirs, files in os.walk(path):
            for f in sorted(files):
                full = os.path.join(root, f)
                info = zipfile.ZipInfo(os.path.relpath(full, path), (2020, 1, 1, 0, 0, 0))
                info.external_attr = (os.stat(full).st_mode & 0o777 | 0o100000) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(full, "rb") as fh:
                    z.writestr(info, fh.read())
    return buf.getvalue()


def _wait(client, name, key, want, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        cfg = client.get_function_configuration(FunctionName=name)
        if cfg.get(key) == want:
            return cfg
        if cfg.get(key) == "Failed":
            fail(f"{name}: {key} Failed: {cfg.get('StateReason') or cfg.get('LastUpdateStatusReason')}")
        if time.monotonic() > deadline:
            fail(f"{name}: {key} still {cfg.get(key)!r} after {timeout}s (want {want})")
        time.sleep(0.02)


def cmd_deploy(a):
    client = _client(a.endpoint)
    code = _zip_dir(a.dir)
    client.create_function(
        FunctionName=a.name,
        Runtime=a.runtime,
        Role=ROLE,
        Handler=a.handler,
        Code={"ZipFile": code},
        MemorySize=MEMORY,
        Timeout=30,
        TracingConfig={"Mode": a.tracing},
    )
    _wait(client, a.name, "State", "Active")
    note(f"deployed {a.name} ({a.runtime}, {len(code)} byte zip, MemorySize {MEMORY}, tracing {a.tracing}): Active")


def _lua_str(s):
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else "\\%03d" % ord(c) for c in s) + '"'


def cmd_presign(a):
    body = a.body.encode()
    extra = dict(h.split(":", 1) for h in a.header)
    headers = sign(a.url, body, {k.strip(): v.strip() for k, v in extra.items()})
    path = urllib.parse.urlsplit(a.url).path
    with open(a.lua, "w") as f:
        f.write("-- generated by load_helper.py presign: one SigV4-signed request, valid 15 minutes\n")
        f.write("return {\n  method = \"POST\",\n  path = %s,\n  body = %s,\n  headers = {\n" % (_lua_str(path), _lua_str(a.body)))
        for k, v in headers.items():
            f.write("    [%s] = %s,\n" % (_lua_str(k), _lua_str(v)))
        f.write("  },\n}\n")
    with open(a.headers, "w") as f:
        for k, v in headers.items():
            f.write(f"{k}: {v}\n")


def cmd_check(a):
    url = invoke_url(a.endpoint, a.name)
    status, headers, data, took = post(url, sign(url))
    text = data.decode(errors="replace")
    if status != 200 or "x-amz-function-error" in headers or a.expect not in text:
        fail(f"invoke {a.name}: HTTP {status} {headers.get('x-amz-function-error', '')} {text[:300]!r} (wanted 200 containing {a.expect!r})")
    note(f"invoke {a.name}: 200 {text[:80]} ({took * 1000:.1f} ms)")


def cmd_prewarm(a):
    """`conc` clients, each `rounds` invokes on its own keep-alive connection, all awaited.

    wrk ends a run by closing its connections with requests in flight; Nimbus then drops those
    invocations and destroys their environments. So environments are made warm by this client,
    which always waits for its responses, right before each measured wrk run."""
    import threading

    url = invoke_url(a.endpoint, a.name)
    u = urllib.parse.urlsplit(url)
    headers = sign(url)
    errors, lock, start = [], threading.Lock(), threading.Barrier(a.conc)

    def client():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        try:
            start.wait()
            for _ in range(a.rounds):
                conn.request("POST", u.path, body=b"{}", headers=headers)
                r = conn.getresponse()
                data = r.read()
                if r.status != 200 or r.getheader("x-amz-function-error"):
                    with lock:
                        errors.append(f"HTTP {r.status} {data[:200]!r}")
        except Exception as e:  # noqa: BLE001 - reported below
            with lock:
                errors.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(a.conc)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        fail(f"pre-warming {a.name} (c={a.conc}): {len(errors)} failures, first: {errors[0]}")
    note(f"pre-warmed {a.name}: {a.conc} clients x {a.rounds} invokes in {time.perf_counter() - t:.2f} s")


# ---------------------------------------------------------------------------------------------
# Results: one JSON object a line.

def append(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


def cmd_record(a):
    append(a.results, json.loads(a.json))


def read_wrk(path):
    """The WRK_JSON figures bench/load.lua printed into wrk's output at `path`, with `rps`
    and `socket_errors` added."""
    with open(path, errors="replace") as f:
        out = f.read()
    m = re.search(r"^WRK_JSON (.*)$", out, re.M)
    if not m:
        fail(f"no WRK_JSON line in wrk's output:\n{out}")
    w = json.loads(m.group(1))
    w["rps"] = w["requests"] / (w["duration_us"] / 1e6) if w["duration_us"] else 0.0
    w["socket_errors"] = sum(w["errors"][k] for k in ("connect", "read", "write", "timeout"))
    return w


def cmd_record_wrk(a):
    w = read_wrk(a.file)
    append(a.results, {"kind": "wrk", "mode": a.mode, "target": a.target, "conc": a.conc, "wrk": w})
    errs = w["socket_errors"]
    flag = ""
    if w["non2xx"] or w["funcerr"] or errs:
        flag = f"  !! non-2xx {w['non2xx']} function errors {w['funcerr']} socket errors {errs} statuses {w['statuses']}"
    note(f"{a.target:<16} c={a.conc:<3} {w['rps']:>9.0f} req/s  p50 {w['p50_us'] / 1000:7.3f} ms  p99 {w['p99_us'] / 1000:7.3f} ms  ({w['requests']} requests){flag}")


# ---------------------------------------------------------------------------------------------
# Cold starts, and the interpreter's own start-up as their baseline.

def _pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round((len(xs) - 1) * p)))]


def cmd_cold(a):
    client = _client(a.endpoint)
    url = invoke_url(a.endpoint, a.name)
    cold, warm, init, confirmed = [], [], [], 0
    for i in range(a.n):
        if a.new_code:
            # New code is a new package: its first environment also has its read-only copy of
            # the package made (the sandbox launcher's mkfs), which later ones reuse.
            zipped = io.BytesIO(_zip_dir(a.new_code))
            with zipfile.ZipFile(zipped, "a") as z:
                z.writestr(f"nimbus-bench-{os.getpid()}-{i}.txt", str(time.time_ns()))
            client.update_function_code(FunctionName=a.name, ZipFile=zipped.getvalue())
        else:
            # A new configuration is a new generation: no environment of the old one is reused.
            client.update_function_configuration(
                FunctionName=a.name,
                Environment={"Variables": {"NIMBUS_BENCH_COLD": f"{os.getpid()}-{i}-{time.time_ns()}"}},
            )
        _wait(client, a.name, "LastUpdateStatus", "Successful", timeout=30)
        status, headers, data, took = post(url, sign(url, extra={"X-Amz-Log-Type": "Tail"}))
        if status != 200 or "x-amz-function-error" in headers:
            fail(f"cold invoke {i} of {a.name}: HTTP {status} {data[:300]!r}")
        cold.append(took)
        log = base64.b64decode(headers.get("x-amz-log-result", "")).decode(errors="replace")
        m = re.search(r"Init Duration: ([0-9.]+) ms", log)
        if m:
            confirmed += 1
            init.append(float(m.group(1)) / 1000)
        # The same client, the same environment, now warm.
        status, headers, data, took = post(url, sign(url))
        if status != 200:
            fail(f"warm invoke after cold {i} of {a.name}: HTTP {status} {data[:300]!r}")
        warm.append(took)
    rec = {"kind": "cold", "variant": "code" if a.new_code else "configuration", "mode": a.mode, "n": a.n,
           "cold": cold, "warm": warm, "init": init, "confirmed": confirmed}
    append(a.results, rec)
    note(f"cold invoke p50 {_pct(cold, .5) * 1000:.1f} ms p99 {_pct(cold, .99) * 1000:.1f} ms; cold confirmed {confirmed}/{a.n}; warm p50 {_pct(warm, .5) * 1000:.2f} ms")


def cmd_pybase(a):
    argv = ["/usr/bin/python3", "-I", "-c", f"import {a.imports}"]
    ts = []
    for _ in range(a.n + 2):
        t = time.perf_counter()
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
        took = time.perf_counter() - t
        if r.returncode != 0:
            fail(f"{argv}: exit {r.returncode}: {r.stderr.decode(errors='replace')}")
        ts.append(took)
    ts = ts[2:]  # the first two warm the page cache
    append(a.results, {"kind": "pybase", "mode": a.mode, "argv": argv, "times": ts})
    note(f"{' '.join(argv[:3])} '{argv[3]}': p50 {_pct(ts, .5) * 1000:.1f} ms")


# ---------------------------------------------------------------------------------------------
# Environments and their memory, from /proc and the cgroup tree.

def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _cmdline(pid):
    raw = _read(f"/proc/{pid}/cmdline") or b""
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def _children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = _read(f"/proc/{d}/stat")
        if not st:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        ppid = int(st[st.rindex(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _descendants(pid):
    kids, out, todo = _children_map(), [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def _cgroups(pid):
    """{controller-or-'': path} of a process (v1 controllers by name, v2 under '')."""
    out = {}
    for line in (_read(f"/proc/{pid}/cgroup") or b"").decode().splitlines():
        _id, ctrls, path = line.split(":", 2)
        for c in ctrls.split(",") if ctrls else [""]:
            out[c] = path
    return out


def _memory_dir(cg):
    if "memory" in cg:
        return "/sys/fs/cgroup/memory" + cg["memory"]
    return "/sys/fs/cgroup" + cg.get("", "/")


def _limits(pid):
    """The CPU and memory limits of a process's cgroups, as the kernel has them."""
    cg, out = _cgroups(pid), {}

    def first(paths):
        for p in paths:
            v = _read(p)
            if v is not None:
                return v.decode().strip()
        return None

    if "cpu" in cg:
        bases = [f"/sys/fs/cgroup/{m}{cg['cpu']}" for m in ("cpu", "cpu,cpuacct", "cpuacct,cpu")]
        out["cfs_quota_us"] = first(b + "/cpu.cfs_quota_us" for b in bases)
        out["cfs_period_us"] = first(b + "/cpu.cfs_period_us" for b in bases)
        out["shares"] = first(b + "/cpu.shares" for b in bases)
    elif "" in cg:
        base = "/sys/fs/cgroup" + cg[""]
        out["cpu_max"] = first([base + "/cpu.max"])
        out["weight"] = first([base + "/cpu.weight"])
    if "memory" in cg:
        out["memory_limit"] = first([f"/sys/fs/cgroup/memory{cg['memory']}/memory.limit_in_bytes"])
    elif "" in cg:
        out["memory_limit"] = first(["/sys/fs/cgroup" + cg[""] + "/memory.max"])
    return out


def _cpu_text(lim):
    """'quota 7235/100000 us = 0.072 CPU, shares 1024' or the v2 equivalent."""
    if not lim:
        return "?"
    parts = []
    if lim.get("cfs_quota_us") is not None:
        q, per = int(lim["cfs_quota_us"]), int(lim.get("cfs_period_us") or 100000)
        parts.append("no CPU quota" if q < 0 else f"CPU quota {q}/{per} us = {q / per:.3f} CPU")
        parts.append(f"cpu.shares {lim.get('shares')}")
    elif lim.get("cpu_max") is not None:
        q, per = (lim["cpu_max"].split() + ["100000"])[:2]
        parts.append("no CPU quota" if q == "max" else f"cpu.max {q}/{per} = {int(q) / int(per):.3f} CPU")
        parts.append(f"cpu.weight {lim.get('weight')}")
    m = lim.get("memory_limit")
    if m and m.isdigit():
        parts.append(f"memory limit {int(m) // 2**20} MiB")
    return ", ".join(parts)


def _rollup(pid):
    text = (_read(f"/proc/{pid}/smaps_rollup") or b"").decode(errors="replace")
    vals = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            vals[parts[0][:-1]] = int(parts[1])
    return vals


def _classify(cmds):
    joined = " ".join(" ".join(c) for c in cmds)
    if "/var/runtime/bootstrap.py" in joined:
        return "python"
    if "/var/runtime/bootstrap.js" in joined:
        return "node"
    if "/var/task/bootstrap" in joined:
        return "provided"
    return "standby"


def cmd_envs(a):
    server = a.server_pid
    if not os.path.exists(f"/proc/{server}"):
        fail(f"server {server} is gone")
    own = _memory_dir(_cgroups(server))
    groups = {}
    for pid in _descendants(server):
        d = _memory_dir(_cgroups(pid))
        if d != own:
            groups.setdefault(d, set()).add(pid)
    # Everything in each environment's cgroup, descendant of the server or not (reparented).
    scopes = set()
    for d in list(groups):
        scopes.add(os.path.dirname(d))
    for scope in scopes:
        try:
            entries = os.listdir(scope)
        except OSError:
            continue
        for e in entries:
            d = os.path.join(scope, e)
            procs = _read(os.path.join(d, "cgroup.procs"))
            if procs is None:
                continue
            pids = {int(p) for p in procs.split()}
            if pids:
                groups.setdefault(d, set()).update(pids)
    envs = []
    for d, pids in sorted(groups.items()):
        limits = _limits(min(pids))
        cmds = [_cmdline(p) for p in sorted(pids)]
        roll = [_rollup(p) for p in sorted(pids)]
        envs.append({
            "cgroup": d,
            "kind": _classify(cmds),
            "procs": len(pids),
            "pss_kb": sum(r.get("Pss", 0) for r in roll),
            "uss_kb": sum(r.get("Private_Clean", 0) + r.get("Private_Dirty", 0) for r in roll),
            "rss_kb": sum(r.get("Rss", 0) for r in roll),
            "cmds": [" ".join(c)[:120] for c in cmds],
            "limits": limits,
        })
    status = (_read(f"/proc/{server}/status") or b"").decode()
    m = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    srv = _rollup(server)
    rec = {
        "kind": "envs", "mode": a.mode, "stage": a.stage,
        "server_rss_kb": int(m.group(1)) if m else None,
        "server_pss_kb": srv.get("Pss"),
        "envs": envs,
    }
    append(a.results, rec)
    if a.scopes:
        # Where this server's environment cgroups live, in every hierarchy, for cleanup-cgroups.
        have = set()
        if os.path.exists(a.scopes):
            have = set(open(a.scopes).read().split())
        names = {os.path.basename(s) for s in scopes}
        for ctrl, path in _cgroups(server).items():
            for name in names:
                base = f"/sys/fs/cgroup/{ctrl}{path}" if ctrl else f"/sys/fs/cgroup{path}"
                cand = os.path.normpath(f"{base}/nimbus/{name}")
                if os.path.isdir(cand):
                    have.add(cand)
        with open(a.scopes, "w") as f:
            f.write("\n".join(sorted(have)) + "\n")
    counts = {}
    for e in envs:
        counts[e["kind"]] = counts.get(e["kind"], 0) + 1
    note(f"environments ({a.stage}): {counts}; server RSS {rec['server_rss_kb']} kB")


def cmd_cleanup_cgroups(a):
    """Ends what the stopped server left in its own environment cgroups, removes them."""
    if not os.path.exists(a.scopes):
        return
    for scope in open(a.scopes).read().split():
        if "/nimbus/" not in scope or not os.path.isdir(scope):
            continue
        dirs = []
        for root, subdirs, _files in os.walk(scope):
            dirs.extend(os.path.join(root, s) for s in subdirs)
        dirs.sort(key=len, reverse=True)
        for d in dirs + [scope]:
            pids = (_read(os.path.join(d, "cgroup.procs")) or b"").split()
            for p in pids:
                try:
                    os.kill(int(p), signal.SIGKILL)
                except OSError:
                    pass
            if pids:
                note(f"killed {len(pids)} leftover process(es) in {d}")
            for _ in range(100):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# The table.

def _ms(s):
    if s is None:
        return "-"
    return f"{s * 1000:.2f} ms" if s < 0.1 else f"{s * 1000:.1f} ms"


def _mib(kb):
    return "-" if kb is None else f"{kb / 1024:.1f}"


LABEL = {"minimal": "minimal HTTP server (baseline)", "python": "python3.12 hello",
         "node": "nodejs20.x hello", "provided": "provided.al2023 hello (Rust)"}


def cmd_report(a):
    recs = [json.loads(l) for l in open(a.results) if l.strip()]
    meta = next((r for r in recs if r["kind"] == "meta"), {})
    modes = []
    for r in recs:
        if r["kind"] == "mode":
            modes.append(r)
    out = []
    w = out.append
    w("")
    w("=" * 100)
    w(f"Nimbus load benchmark (bench/load.sh), {meta.get('date', '')}")
    w(f"  commit {meta.get('commit', '?')}; {meta.get('cpus', '?')} CPUs; {meta.get('wrk', 'wrk')}; "
      f"sandbox launcher; MemorySize {MEMORY}; {meta.get('duration', '?')} s per wrk run")
    for m in modes:
        mode = m["mode"]
        w("=" * 100)
        if not m["available"]:
            err = re.sub(r"\s+", " ", m.get("error", "")).strip()
            short = re.search(r"unknown (field|variant) `[^`]*`", err)
            w(f"cpu_limit = \"{mode}\": NOT AVAILABLE, the server refused the key"
              + (f" ({short.group(0)})" if short else f": {err[:200]}"))
            if m.get("same_as"):
                w(f"  measured without the key already: see \"{m['same_as']}\" above")
                continue
            w("  so measured without cpu_limit (the server's default CPU policy):")
        else:
            cpu, _, extra = mode.partition("+")
            label = f"cpu_limit = \"{cpu}\"" if cpu != "default" else "no cpu_limit key (server default)"
            if extra == "traced":
                label += ", tracing Active (X-Ray's default sampling: 1/s then 5%; spans over OTLP to a receiver), /metrics scraped every second"
            elif extra == "traced-all":
                label += ", tracing Active (every invocation recorded; spans over OTLP to a receiver), /metrics scraped every second"
            w(label)
        rs = [r for r in recs if r.get("mode") == mode]
        end_rec = next((r for r in rs if r["kind"] == "modeend"), {})
        w(f"  load average (1, 5, 15 min) at the start of this mode: {m.get('loadavg', '?')}; at its end: {end_rec.get('loadavg', '?')}")
        c1 = next((r for r in rs if r["kind"] == "envs" and r["stage"] == "c1"), None)
        if c1:
            for k in ("python", "node", "provided"):
                v = next((v for v in c1["envs"] if v["kind"] == k), None)
                if v:
                    w(f"  {k} environment's cgroup: {_cpu_text(v.get('limits'))}")
        wrk = {(r["target"], r["conc"]): r["wrk"] for r in rs if r["kind"] == "wrk"}
        warn = []

        def errs(x):
            s = sum(x["errors"][k] for k in ("connect", "read", "write", "timeout"))
            return f"{x['non2xx']:>7} {x['funcerr']:>6} {s:>6}"

        def check(t, c, x):
            s = sum(x["errors"][k] for k in ("connect", "read", "write", "timeout"))
            if x["non2xx"] or x["funcerr"] or s:
                warn.append(f"  !! {LABEL[t]} c={c}: {x['non2xx']} non-2xx, {x['funcerr']} function errors, {s} socket errors; statuses {x['statuses']}")

        w("")
        w(f"  Warm invoke latency, concurrency 1 (wrk -t1 -c1 --latency; one pre-signed request per function)")
        w(f"  {'':<34}{'p50':>10}{'p99':>10}{'req/s':>10}{'p50/min':>11}{'non2xx':>8}{'fnerr':>7}{'sock':>7}")
        base = wrk.get(("minimal", 1))
        for t in ("minimal", "python", "node", "provided"):
            x = wrk.get((t, 1))
            if not x:
                continue
            check(t, 1, x)
            ratio = f"{x['p50_us'] / base['p50_us']:.1f}x" if base and base["p50_us"] else "-"
            w(f"  {LABEL[t]:<34}{_ms(x['p50_us'] / 1e6):>10}{_ms(x['p99_us'] / 1e6):>10}{x['rps']:>10.0f}{ratio:>11}{errs(x)}")

        w("")
        w(f"  Warm throughput, concurrency 32 (wrk -t2 -c32; functions warmed first by 32 clients that wait for their responses)")
        w(f"  {'':<34}{'req/s':>10}{'/ minimal':>11}{'p50':>10}{'p99':>10}{'envs':>6}{'non2xx':>8}{'fnerr':>7}{'sock':>7}")
        base = wrk.get(("minimal", 32))
        lost = []
        envs_after = {r["stage"]: r for r in rs if r["kind"] == "envs"}
        for t in ("minimal", "python", "provided", "node"):
            x = wrk.get((t, 32))
            if not x:
                continue
            check(t, 32, x)
            ratio = f"{x['rps'] / base['rps']:.3f}" if base and base["rps"] else "-"
            e = envs_after.get(f"during-c32-{t}")
            n = "-" if e is None or t == "minimal" else str(sum(1 for v in e["envs"] if v["kind"] == t))
            after = envs_after.get(f"after-c32-{t}")
            if e is not None and after is not None and t != "minimal":
                k_during = sum(1 for v in e["envs"] if v["kind"] == t)
                k_after = sum(1 for v in after["envs"] if v["kind"] == t)
                if k_after < k_during:
                    lost.append(f"{LABEL[t]} {k_during} -> {k_after}")
            w(f"  {LABEL[t]:<34}{x['rps']:>10.0f}{ratio:>11}{_ms(x['p50_us'] / 1e6):>10}{_ms(x['p99_us'] / 1e6):>10}{n:>6}{errs(x)}")
        w("  (envs: the function's environments alive 2 s before the end of the measured run)")
        if lost:
            w("  Environments destroyed when wrk stopped (it closes connections with requests in flight, and")
            w("  Nimbus kills the environment of an invocation whose client went away): " + "; ".join(lost))
        end = envs_after.get("c32-end")
        if end:
            counts = {}
            for v in end["envs"]:
                counts[v["kind"]] = counts.get(v["kind"], 0) + 1
            total = sum(n for k, n in counts.items() if k != "standby")
            w(f"  After the c=32 runs and a re-warm by 32 waiting clients per function: {total} environments "
              f"(python {counts.get('python', 0)}, node {counts.get('node', 0)}, provided {counts.get('provided', 0)}; "
              f"+{counts.get('standby', 0)} standby helpers); server RSS {_mib(end['server_rss_kb'])} MiB "
              f"(PSS {_mib(end['server_pss_kb'])} MiB)")

        pyb = next((r for r in rs if r["kind"] == "pybase"), None)
        for cold in (r for r in rs if r["kind"] == "cold"):
            how = "update-function-code (a new package)" if cold.get("variant") == "code" else "update-function-configuration"
            w("")
            w(f"  Python cold start, end to end ({how}, then one invoke; N={cold['n']})")
            w(f"  {'':<58}{'p50':>10}{'p99':>10}")
            w(f"  {'cold invoke (client-observed, fresh connection)':<58}{_ms(_pct(cold['cold'], .5)):>10}{_ms(_pct(cold['cold'], .99)):>10}")
            if cold["init"]:
                w(f"  {'  Init Duration reported in the REPORT line':<58}{_ms(_pct(cold['init'], .5)):>10}{_ms(_pct(cold['init'], .99)):>10}")
            w(f"  {'warm invoke right after (same client, same method)':<58}{_ms(_pct(cold['warm'], .5)):>10}{_ms(_pct(cold['warm'], .99)):>10}")
            if pyb:
                label = "baseline: " + " ".join(pyb["argv"][:3]) + " '" + pyb["argv"][3] + "'"
                w(f"  {label:<58}{_ms(_pct(pyb['times'], .5)):>10}{_ms(_pct(pyb['times'], .99)):>10}")
                w(f"  ratio cold invoke p50 / baseline p50: {_pct(cold['cold'], .5) / _pct(pyb['times'], .5):.2f}"
                  f"   (cold confirmed by an Init Duration in {cold['confirmed']}/{cold['n']})")
            if cold["confirmed"] != cold["n"]:
                warn.append(f"  !! only {cold['confirmed']} of {cold['n']} 'cold' invokes reported an Init Duration")

        w("")
        w("  Host memory per idle environment, MiB (sum over the environment's processes:")
        w("  sandbox-init helper, sandbox PID 1, runtime; PSS shares a page among all its mappers, USS = private)")
        w(f"  {'':<44}{'python':>16}{'node':>16}{'provided':>16}")
        for stage, label in (("c1", "one environment per function"), ("c32-end", "32 waiting clients per function (mean of N)")):
            e = envs_after.get(stage)
            if not e:
                continue
            cells = []
            for k in ("python", "node", "provided"):
                vs = [v for v in e["envs"] if v["kind"] == k]
                if not vs:
                    cells.append(f"{'-':>16}")
                    continue
                pss = statistics.mean(v["pss_kb"] for v in vs)
                uss = statistics.mean(v["uss_kb"] for v in vs)
                cells.append(f"{_mib(pss) + ' / ' + _mib(uss):>12}{'(' + str(len(vs)) + ')' if stage != 'c1' else '':>4}")
            w(f"  {label:<44}" + "".join(cells) + "   PSS / USS")
            sb = [v for v in e["envs"] if v["kind"] == "standby"]
            if sb and stage == "c1":
                w(f"  {'  standby helper (not yet an environment)':<44}{_mib(statistics.mean(v['pss_kb'] for v in sb)) + ' / ' + _mib(statistics.mean(v['uss_kb'] for v in sb)):>16}")
        for line in warn:
            w(line)
    w("=" * 100)
    print("\n".join(out))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("deploy")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--runtime", required=True)
    s.add_argument("--handler", required=True)
    s.add_argument("--dir", required=True)
    s.add_argument("--tracing", default="PassThrough", choices=["PassThrough", "Active"])
    s = sub.add_parser("presign")
    s.add_argument("--url", required=True)
    s.add_argument("--lua", required=True)
    s.add_argument("--headers", required=True)
    s.add_argument("--body", default="{}")
    s.add_argument("--header", action="append", default=[], help="K:V, signed with the rest")
    s = sub.add_parser("check")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--expect", required=True)
    s = sub.add_parser("prewarm")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--conc", type=int, default=1)
    s.add_argument("--rounds", type=int, default=20)
    s = sub.add_parser("cold")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--n", type=int, default=20)
    s.add_argument("--results", required=True)
    s.add_argument("--mode", required=True)
    s.add_argument("--new-code", help="a directory: upload it anew (a new package) before each cold start")
    s = sub.add_parser("pybase")
    s.add_argument("--n", type=int, default=20)
    s.add_argument("--imports", required=True)
    s.add_argument("--results", required=True)
    s.add_argument("--mode", required=True)
    s = sub.add_parser("envs")
    s.add_argument("--server-pid", type=int, required=True)
    s.add_argument("--results", required=True)
    s.add_argument("--mode", required=True)
    s.add_argument("--stage", required=True)
    s.add_argument("--scopes")
    s = sub.add_parser("record-wrk")
    s.add_argument("--results", required=True)
    s.add_argument("--mode", required=True)
    s.add_argument("--target", required=True)
    s.add_argument("--conc", type=int, required=True)
    s.add_argument("--file", required=True)
    s = sub.add_parser("record")
    s.add_argument("--results", required=True)
    s.add_argument("--json", required=True)
    s = sub.add_parser("cleanup-cgroups")
    s.add_argument("--scopes", required=True)
    s = sub.add_parser("report")
    s.add_argument("--results", required=True)
    a = p.parse_args()
    globals()["cmd_" + a.cmd.replace("-", "_")](a)


if __name__ == "__main__":
    main()
