"""The Python half of bench/async.sh, on load_helper.py's tools.

    async_helper.py fsync    --dir D --threads 64 --seconds 5        (the baselines)
    async_helper.py latency  --endpoint URL --name N --n 200         (202 -> handler)
    async_helper.py drained  --endpoint URL --timeout S                 (queue empty)

Each prints one JSON line of figures on stdout; progress goes to stderr.
"""

import argparse
import json
import os
import queue
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load_helper as lh  # noqa: E402

RECORD = b"x" * 200 + b"\n"  # about what an event row with a small payload costs


def cmd_fsync(a):
    """What durability costs without Nimbus: THREADS writers appending 200-byte records to one
    file, (1) each append followed by its own fsync, (2) appends handed to one writer that
    fsyncs once per batch of whatever is waiting (group commit). Records per second."""
    figures = {}
    for mode in ("per_event", "batched"):
        path = os.path.join(a.dir, f"fsync-{mode}.log")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        stop = time.monotonic() + a.seconds
        count = [0] * a.threads
        if mode == "per_event":
            def writer(k):
                while time.monotonic() < stop:
                    os.write(fd, RECORD)
                    os.fsync(fd)
                    count[k] += 1
        else:
            pending = queue.Queue()

            def committer():
                while time.monotonic() < stop + 0.5:
                    try:
                        first = pending.get(timeout=0.1)
                    except queue.Empty:
                        continue
                    batch = [first]
                    while True:
                        try:
                            batch.append(pending.get_nowait())
                        except queue.Empty:
                            break
                    os.write(fd, RECORD * len(batch))
                    os.fsync(fd)
                    for done in batch:
                        done.set()

            threading.Thread(target=committer, daemon=True).start()

            def writer(k):
                while time.monotonic() < stop:
                    done = threading.Event()
                    pending.put(done)
                    done.wait()
                    count[k] += 1
        t0 = time.monotonic()
        ts = [threading.Thread(target=writer, args=(k,)) for k in range(a.threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        took = time.monotonic() - t0
        os.close(fd)
        os.unlink(path)
        figures[mode] = round(sum(count) / took)
        lh.note(f"fsync baseline {mode}: {figures[mode]} records/s with {a.threads} writers")
    print(json.dumps(figures))


def _log_lines(endpoint, name, since_ms):
    """Every log event of `name` from `since_ms` on, page by page."""
    out, after = [], 0
    while True:
        page = _get(endpoint, f"/_nimbus/logs/{name}?since={since_ms}&after={after}&limit=10000")["Events"]
        out.extend(page)
        if len(page) < 10000:
            return out
        after = page[-1]["Id"]


def cmd_latency(a):
    """N events one after another (20 ms apart, so that none queues behind another), each
    carrying the wall-clock time it was sent; the handler logs how long ago that was when it
    ran. Figures: the 202's round trip, and 202 -> handler, p50/p99 in ms."""
    url = lh.invoke_url(a.endpoint, a.name)
    since = int(time.time() * 1000) - 1000
    acks = []
    for i in range(a.n):
        body = json.dumps({"t0": time.time() * 1000, "i": i}).encode()
        headers = lh.sign(url, body, {"X-Amz-Invocation-Type": "Event"})
        status, _, data, took = lh.post(url, headers, body)
        if status != 202:
            lh.fail(f"event {i}: {status} {data[:200]!r}")
        acks.append(took * 1000)
        time.sleep(0.02)
    deadline = time.monotonic() + 60
    lats = []
    while time.monotonic() < deadline:
        lats = [float(e["Message"].split()[1]) for e in _log_lines(a.endpoint, a.name, since) if e["Message"].startswith("LAT ")]
        if len(lats) >= a.n:
            break
        time.sleep(0.5)
    if len(lats) < a.n:
        lh.fail(f"only {len(lats)} of {a.n} events ran within 60 s")
    out = {
        "ack_p50_ms": round(lh._pct(acks, 0.5), 2),
        "ack_p99_ms": round(lh._pct(acks, 0.99), 2),
        "e2e_p50_ms": round(lh._pct(lats, 0.5), 2),
        "e2e_p99_ms": round(lh._pct(lats, 0.99), 2),
    }
    lh.note(f"202 -> handler over {a.n} events: {out}")
    print(json.dumps(out))


def _get(endpoint, path):
    import http.client
    import botocore.awsrequest
    from botocore.auth import SigV4Auth
    url = endpoint + path
    u = urllib.parse.urlsplit(url)
    req = botocore.awsrequest.AWSRequest(method="GET", url=url, headers={"Host": u.netloc})
    SigV4Auth(lh._credentials(), "lambda", lh.REGION).add_auth(req)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("GET", u.path + (f"?{u.query}" if u.query else ""), headers=dict(req.headers.items()))
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            lh.fail(f"GET {path}: {resp.status} {body[:200]!r}")
        return json.loads(body)
    finally:
        conn.close()


def cmd_drained(a):
    """Waits until the server's queue is empty (GET /_nimbus/async); prints how long that took."""
    t0 = time.monotonic()
    pending = None
    while time.monotonic() - t0 < a.timeout:
        pending = _get(a.endpoint, "/_nimbus/async")["PendingEvents"]
        if pending == 0:
            break
        time.sleep(0.2)
    took = time.monotonic() - t0
    if pending:
        lh.fail(f"{pending} events still queued after {a.timeout} s")
    print(json.dumps({"seconds": round(took, 2)}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("fsync")
    s.add_argument("--dir", required=True)
    s.add_argument("--threads", type=int, default=64)
    s.add_argument("--seconds", type=float, default=5)
    s = sub.add_parser("latency")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--n", type=int, default=200)
    s = sub.add_parser("drained")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--timeout", type=float, default=900)
    a = p.parse_args()
    {"fsync": cmd_fsync, "latency": cmd_latency, "drained": cmd_drained}[a.cmd](a)


if __name__ == "__main__":
    main()
