"""The Python half of bench/scale.sh (botocore signing and /proc), on load_helper.py's tools.

    scale_helper.py burst    --endpoint URL --name N --n COUNT --hold SECONDS
    scale_helper.py spawn    --n COUNT
    scale_helper.py memory   --server-pid PID
    scale_helper.py wrk-line --file WRK_OUTPUT

Each prints one line of figures on stdout; progress goes to stderr.
"""

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load_helper as lh  # noqa: E402


def cmd_burst(a):
    """COUNT invocations at once, each holding its environment HOLD seconds: every one needs an
    environment of its own, so the server makes COUNT from zero. Figures: how many cold-started
    (REPORT's Init Duration), the wall time, and environments per second over the time not spent
    holding."""
    url = lh.invoke_url(a.endpoint, a.name)
    body = json.dumps({"s": a.hold}).encode()
    headers = lh.sign(url, body, {"X-Amz-Log-Type": "Tail"})
    gate = threading.Barrier(a.n + 1)
    results = [None] * a.n

    def one(i):
        gate.wait()
        try:
            results[i] = lh.post(url, headers, body, timeout=300)
        except Exception as e:  # recorded, reported below
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(a.n)]
    for t in threads:
        t.start()
    gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    bad = [r for r in results if isinstance(r, Exception) or r[0] != 200 or "x-amz-function-error" in r[1]]
    if bad:
        r = bad[0]
        lh.fail(f"{len(bad)} of {a.n} invocations failed, e.g. {r if isinstance(r, Exception) else (r[0], r[2][:200])}")
    cold = 0
    for status, h, data, took in results:
        tail = base64.b64decode(h.get("x-amz-log-result", "")).decode(errors="replace")
        if "Init Duration" in tail:
            cold += 1
    making = max(wall - a.hold, 1e-3)
    print(json.dumps({"n": a.n, "cold": cold, "wall_s": round(wall, 2), "hold_s": a.hold,
                      "envs_per_s": round(cold / making, 1)}))


def cmd_spawn(a):
    """Baseline: COUNT interpreters started at once and waited for (the runtime's imports)."""
    argv = ["/usr/bin/python3", "-I", "-c", "import json, os, socket, sys, time, traceback"]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(argv, stdin=subprocess.DEVNULL) for _ in range(a.n)]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - t0
    if any(codes):
        lh.fail(f"python3 exited {set(codes)}")
    print(json.dumps({"n": a.n, "wall_s": round(wall, 2), "per_s": round(a.n / wall, 1)}))


def cmd_memory(a):
    """Host memory of the server's environments (PSS summed over every process below the
    server) and the server's own resident set."""
    pids = lh._descendants(a.server_pid)
    pss = sum(lh._rollup(p).get("Pss", 0) for p in pids)
    status = (lh._read(f"/proc/{a.server_pid}/status") or b"").decode()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    print(json.dumps({"processes": len(pids), "pss_mib": round(pss / 1024, 1),
                      "server_rss_mib": round(rss / 1024, 1)}))


def cmd_wrk_line(a):
    w = lh.read_wrk(a.file)
    if w["non2xx"] or w["funcerr"] or w["socket_errors"]:
        lh.fail(f"wrk saw failures: {w}")
    print(json.dumps(w))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("burst")
    b.add_argument("--endpoint", required=True)
    b.add_argument("--name", required=True)
    b.add_argument("--n", type=int, required=True)
    b.add_argument("--hold", type=float, default=2.0)
    s = sub.add_parser("spawn")
    s.add_argument("--n", type=int, required=True)
    m = sub.add_parser("memory")
    m.add_argument("--server-pid", type=int, required=True)
    w = sub.add_parser("wrk-line")
    w.add_argument("--file", required=True)
    a = p.parse_args()
    {"burst": cmd_burst, "spawn": cmd_spawn, "memory": cmd_memory,
     "wrk-line": cmd_wrk_line}[a.cmd](a)


if __name__ == "__main__":
    main()
