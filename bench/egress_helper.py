"""bench/egress.sh's client, run inside the server's network namespace.

  egress_helper.py cold ENDPOINT KEYS_FILE N     cold starts, nat vs none, alternating
  egress_helper.py stream ENDPOINT KEYS_FILE URL throughput of a nat function downloading URL
  egress_helper.py fetch URL                     the same download by this process (baseline)

Prints one JSON object per measurement on stdout.
"""
import io
import json
import statistics
import sys
import time
import urllib.request
import zipfile

ROLE = "arn:aws:iam::000000000000:role/bench"

DOWNLOAD = r'''
import time, urllib.request

def download(url):
    t = time.perf_counter()
    n = 0
    with urllib.request.urlopen(url, timeout=60) as r:
        while True:
            b = r.read(1 << 20)
            if not b:
                break
            n += len(b)
    return n, time.perf_counter() - t

def handler(event, context):
    if "url" in event:
        n, s = download(event["url"])
        return {"bytes": n, "seconds": s}
    return {"ok": True}
'''


def client(endpoint, keys_file):
    import boto3

    keys = {}
    for line in open(keys_file):
        if "=" in line:
            k, v = line.split("=", 1)
            keys[k.strip()] = v.strip()
    return boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys["aws_access_key_id"],
        aws_secret_access_key=keys["aws_secret_access_key"],
    )


def wait_ready(lam, name):
    for _ in range(1000):
        c = lam.get_function_configuration(FunctionName=name)
        if c["State"] == "Active" and c["LastUpdateStatus"] == "Successful":
            return
        time.sleep(0.01)
    raise SystemExit(name + " never became ready")


def deploy(lam, name, tags, memory=128):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", DOWNLOAD)
    lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
        Timeout=120, MemorySize=memory, Code={"ZipFile": buf.getvalue()}, Tags=tags,
    )
    wait_ready(lam, name)


def invoke(lam, name, event):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event))
    body = json.loads(r["Payload"].read())
    if r.get("FunctionError"):
        raise SystemExit("%s failed: %s" % (name, body))
    return body


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def cold(endpoint, keys_file, n):
    lam = client(endpoint, keys_file)
    deploy(lam, "cold-nat", {})
    deploy(lam, "cold-none", {"nimbus:egress": "none"})
    times = {"cold-nat": [], "cold-none": []}
    for i in range(n):
        for name in ("cold-nat", "cold-none"):
            # A new configuration: the next invoke is a cold start.
            lam.update_function_configuration(
                FunctionName=name, Environment={"Variables": {"ROUND": str(i)}}
            )
            wait_ready(lam, name)
            # The standby helpers refill after each cold start: let them (the measured cold
            # start is one from the prepared pool, as users get at a modest rate).
            time.sleep(0.3)
            t = time.perf_counter()
            invoke(lam, name, {})
            times[name].append((time.perf_counter() - t) * 1000)
    for name, xs in times.items():
        print(json.dumps({
            "kind": "cold", "function": name, "n": len(xs),
            "p50_ms": round(statistics.median(xs), 2), "p90_ms": round(pct(xs, 90), 2),
            "min_ms": round(min(xs), 2),
        }))


def download(url):
    t = time.perf_counter()
    n = 0
    with urllib.request.urlopen(url, timeout=60) as r:
        while True:
            b = r.read(1 << 20)
            if not b:
                break
            n += len(b)
    return n, time.perf_counter() - t


def stream(endpoint, keys_file, url):
    lam = client(endpoint, keys_file)
    deploy(lam, "stream", {}, memory=128)
    invoke(lam, "stream", {})  # warm
    for _ in range(3):
        r = invoke(lam, "stream", {"url": url})
        print(json.dumps({"kind": "stream", "who": "function (nat, 128 MB)", "bytes": r["bytes"],
                          "mb_per_s": round(r["bytes"] / r["seconds"] / 1e6, 1)}))


def fetch(url):
    for _ in range(3):
        n, s = download(url)
        print(json.dumps({"kind": "stream", "who": "host itself", "bytes": n,
                          "mb_per_s": round(n / s / 1e6, 1)}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "cold":
        cold(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "stream":
        stream(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "fetch":
        fetch(sys.argv[2])
    else:
        raise SystemExit(__doc__)
