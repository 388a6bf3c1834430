#!/usr/bin/env bash
# bench/url.sh: function URLs as users get them: the release binary, the sandbox launcher, a
# python3.12 hello handler of MemorySize 128 answering {"statusCode": 200, ...}, wrk as the load
# generator. Three targets under the same wrk, in one run:
#   - a bare loopback round trip: a minimal keep-alive hyper server (bench/minimal-http);
#   - the Invoke API: a pre-signed RequestResponse Invoke of the same function (SigV4 verified);
#   - the function URL (AuthType NONE), GET by its /lambda-url/<id>/ path;
# each at concurrency 1 (wrk -t1 -c1) and 32 (wrk -t2 -c32): requests per second, p50 and p99.
# Needs root (the sandbox launcher; apt-get for wrk). Knobs: URL_DURATION (wrk seconds, 10).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench
DURATION=${URL_DURATION:-10}

log() { printf '[url.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
    printf '\n[url.sh %s] FAILED: %s\n' "$(date +%T)" "$*" >&2
    if [ -n "${WORK:-}" ] && [ -s "$WORK/server.err" ]; then
        printf -- '--- last lines of the server log ---\n' >&2
        tail -n 20 "$WORK/server.err" >&2
    fi
    exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root: the sandbox launcher and apt-get"
command -v wrk >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }; }
WRK=$(command -v wrk) || die "wrk is not installed"
PY=
for cand in "$ROOT/.venv-test/bin/python" /usr/bin/python3; do
    if [ -x "$cand" ] && "$cand" -c 'import botocore' 2>/dev/null; then PY=$cand; break; fi
done
[ -n "$PY" ] || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-botocore >/dev/null; PY=/usr/bin/python3; }
LH=("$PY" "$BENCH/load_helper.py")

log "building the release binary and the minimal HTTP baseline"
cargo build --release --locked -p nimbus-cli >/dev/null 2>&1 || cargo build --release --locked -p nimbus-cli
NIMBUS=${CARGO_TARGET_DIR:-$ROOT/target}/release/nimbus
MH_MANIFEST=$BENCH/minimal-http/Cargo.toml
cargo build --release --locked --manifest-path "$MH_MANIFEST" >/dev/null 2>&1 ||
    cargo build --release --locked --manifest-path "$MH_MANIFEST" || die "build of bench/minimal-http failed"
MINIMAL=$BENCH/minimal-http/target/release/nimbus-bench-minimal-http

WORK=$(mktemp -d /var/tmp/nimbus-url-XXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
wait_line() { # $1 file, $2 prefix: prints the rest of the first line with that prefix
    for _ in $(seq 1 300); do
        if grep -q "^$2" "$1" 2>/dev/null; then sed -n "s/^$2//p" "$1" | head -n1; return 0; fi
        sleep 0.1
    done
    return 1
}

"$MINIMAL" 127.0.0.1:0 >"$WORK/minimal.out" 2>"$WORK/minimal.err" &
PIDS+=($!)
MINIMAL_ADDR=$(wait_line "$WORK/minimal.out" "listening on ") || die "the minimal server did not start"

DATA=$WORK/data
printf 'launcher = "sandbox"\nkeep_alive_seconds = 600\n' >"$WORK/nimbus.toml"
NIMBUS_LOG=${NIMBUS_LOG:-warn} "$NIMBUS" serve --config "$WORK/nimbus.toml" --data-dir "$DATA" \
    --listen 127.0.0.1:0 --url-listen 127.0.0.1:0 >"$WORK/server.out" 2>"$WORK/server.err" &
PIDS+=($!)
ADDR=$(wait_line "$WORK/server.out" "listening on ") || die "the server did not start"
URL_ADDR=$(wait_line "$WORK/server.out" "function urls on ") || die "the server serves no function URLs"
ENDPOINT=http://$ADDR
for _ in $(seq 1 100); do [ -s "$DATA/credentials" ] && break; sleep 0.05; done
export AWS_SHARED_CREDENTIALS_FILE=$DATA/credentials AWS_PROFILE=nimbus AWS_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL || true
log "server on $ENDPOINT, function URLs on $URL_ADDR, minimal baseline on $MINIMAL_ADDR"

mkdir -p "$WORK/hello"
printf 'def handler(event, context):\n    return {"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": "hello"}\n' >"$WORK/hello/app.py"
"${LH[@]}" deploy --endpoint "$ENDPOINT" --name hello --runtime python3.12 --handler app.handler --dir "$WORK/hello"

# The URL, public: the configuration and the two statements AWS requires.
URL_ID=$("$PY" - "$ENDPOINT" "$BENCH" <<'MAKEURL'
import sys, json, urllib.parse, http.client
sys.path.insert(0, sys.argv[2])
import load_helper as lh
from botocore.awsrequest import AWSRequest
from botocore.auth import SigV4Auth
def call(method, path, body):
    url = sys.argv[1] + path
    data = json.dumps(body).encode()
    u = urllib.parse.urlsplit(url)
    req = AWSRequest(method=method, url=url, data=data, headers={"Host": u.netloc})
    SigV4Auth(lh._credentials(), "lambda", lh.REGION).add_auth(req)
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request(method, u.path, body=data, headers=dict(req.headers.items()))
    r = c.getresponse()
    out = r.read()
    assert r.status in (200, 201), (r.status, out)
    return json.loads(out)
url = call("POST", "/2021-10-31/functions/hello/url", {"AuthType": "NONE"})["FunctionUrl"]
call("POST", "/2015-03-31/functions/hello/policy", {"StatementId": "url", "Action": "lambda:InvokeFunctionUrl", "Principal": "*", "FunctionUrlAuthType": "NONE"})
call("POST", "/2015-03-31/functions/hello/policy", {"StatementId": "invoke", "Action": "lambda:InvokeFunction", "Principal": "*", "InvokedViaFunctionUrl": True})
print(url.split("//", 1)[1].split(".", 1)[0])
MAKEURL
) || die "could not make the function URL"
curl -fsS --max-time 30 "http://$URL_ADDR/lambda-url/$URL_ID/" | grep -q '^hello$' || die "the function URL does not answer hello"

printf 'return { method = "GET", path = "/", headers = {}, body = "" }\n' >"$WORK/minimal.lua"
printf 'return { method = "GET", path = "/lambda-url/%s/", headers = {}, body = "" }\n' "$URL_ID" >"$WORK/url.lua"
"${LH[@]}" presign --url "$ENDPOINT/2015-03-31/functions/hello/invocations" --body '{}' \
    --lua "$WORK/invoke.lua" --headers "$WORK/invoke.headers"

run() { # $1 name, $2 base URL, $3 lua, $4 threads, $5 connections
    "$WRK" -t"$4" -c"$5" -d"${DURATION}s" --latency -s "$BENCH/load.lua" "$2/" -- "$3" >"$WORK/$1.out" 2>&1 ||
        die "wrk failed: $(cat "$WORK/$1.out")"
    "$PY" -c 'import sys, json; sys.path.insert(0, sys.argv[2]); import load_helper as lh; print(json.dumps(lh.read_wrk(sys.argv[1])))' \
        "$WORK/$1.out" "$BENCH"
}
declare -A R
for c in 1 32; do
    t=$([ "$c" -eq 1 ] && echo 1 || echo 2)
    log "concurrency $c: bare loopback, Invoke API, function URL (${DURATION} s each)"
    R[minimal_$c]=$(run "minimal_$c" "http://$MINIMAL_ADDR" "$WORK/minimal.lua" "$t" "$c")
    R[invoke_$c]=$(run "invoke_$c" "$ENDPOINT" "$WORK/invoke.lua" "$t" "$c")
    R[url_$c]=$(run "url_$c" "http://$URL_ADDR" "$WORK/url.lua" "$t" "$c")
done

"$PY" - "$DURATION" "${R[minimal_1]}" "${R[invoke_1]}" "${R[url_1]}" "${R[minimal_32]}" "${R[invoke_32]}" "${R[url_32]}" <<'PY'
import json, sys
dur = sys.argv[1]
rows = [json.loads(x) for x in sys.argv[2:]]
names = ["bare loopback (minimal hyper)", "Invoke API (signed)", "function URL (NONE)"]
print(f"\nbench/url.sh: release binary, sandbox launcher, python3.12 MemorySize 128, wrk {dur} s per figure")
print(f"{'target':<32} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'sock err':>8}")
for i, w in enumerate(rows):
    conc = 1 if i < 3 else 32
    bad = w["requests"] - sum(v for k, v in w["statuses"].items() if k.startswith("2"))
    print(f"{names[i % 3]:<32} {conc:>4} {w['rps']:>9.0f} {w['p50_us'] / 1000:>8.2f} {w['p99_us'] / 1000:>8.2f} {bad:>8} {w['socket_errors']:>8}")
PY
