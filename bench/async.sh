#!/usr/bin/env bash
# bench/async.sh: asynchronous invocation as users get it: the release binary, the sandbox
# launcher, a python3.12 function of MemorySize 128, wrk as the load generator. Figures, each
# beside a baseline measured in the same run on the same disk:
#   - acknowledged events per second with 64 concurrent senders (wrk -t2 -c64, one pre-signed
#     `X-Amz-Invocation-Type: Event` request), while the dispatcher runs them;
#       baseline: 64 writers appending 200-byte records to a file, one fsync per record, and
#       with the fsyncs batched (group commit);
#   - the acknowledgement's p50/p99 under that load, and what the queue adds to it: the same
#     wrk with `DryRun` (every step of an Event but the durable write);
#   - how long the dispatcher takes to run the backlog, hence events run per second;
#   - 202 -> handler latency, one event at a time (N=200), p50/p99;
#   - acknowledged events per second when nothing runs them (a function at reserved
#     concurrency 0): what acceptance costs alone, without the functions' CPU.
# Needs root (the sandbox launcher; apt-get for wrk). Knobs: ASYNC_DURATION (wrk seconds, 10).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench
DURATION=${ASYNC_DURATION:-10}

log() { printf '[async.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
    printf '\n[async.sh %s] FAILED: %s\n' "$(date +%T)" "$*" >&2
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
AH=("$PY" "$BENCH/async_helper.py")

log "building the release binary"
cargo build --release --locked -p nimbus-cli >/dev/null 2>&1 || cargo build --release --locked -p nimbus-cli
NIMBUS=${CARGO_TARGET_DIR:-$ROOT/target}/release/nimbus

WORK=$(mktemp -d /var/tmp/nimbus-async-XXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

DATA=$WORK/data
printf 'launcher = "sandbox"\nkeep_alive_seconds = 600\n' >"$WORK/nimbus.toml"
NIMBUS_LOG=${NIMBUS_LOG:-warn} "$NIMBUS" serve --config "$WORK/nimbus.toml" --data-dir "$DATA" \
    --listen 127.0.0.1:0 --url-listen 127.0.0.1:0 >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 1 300); do grep -q '^listening on ' "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
ADDR=$(sed -n 's/^listening on //p' "$WORK/server.out")
[ -n "$ADDR" ] || die "the server did not start: $(tail -n 5 "$WORK/server.err")"
ENDPOINT=http://$ADDR
for _ in $(seq 1 100); do [ -s "$DATA/credentials" ] && break; sleep 0.05; done
export AWS_SHARED_CREDENTIALS_FILE=$DATA/credentials AWS_PROFILE=nimbus AWS_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL || true
log "server $SERVER_PID on $ENDPOINT, data on $(df -P "$WORK" | awk 'NR==2 {print $1}')"

mkdir -p "$WORK/sink"
printf 'import time\ndef handler(event, context):\n    if "t0" in event:\n        print("LAT %%.3f" %% (time.time() * 1000 - event["t0"]))\n    return None\n' >"$WORK/sink/app.py"
"${LH[@]}" deploy --endpoint "$ENDPOINT" --name sink --runtime python3.12 --handler app.handler --dir "$WORK/sink"
"${LH[@]}" check --endpoint "$ENDPOINT" --name sink --expect null >/dev/null

log "baseline: fsync'd appends on the same disk, 64 writers"
FSYNC=$("${AH[@]}" fsync --dir "$WORK" --threads 64 --seconds 5)

run_wrk() { # $1: invocation type, $2: output name
    "${LH[@]}" presign --url "$ENDPOINT/2015-03-31/functions/sink/invocations" --body '{"k":1}' \
        --header "X-Amz-Invocation-Type:$1" --lua "$WORK/$2.lua" --headers "$WORK/$2.headers"
    "$WRK" -t2 -c64 -d"${DURATION}s" --latency -s "$BENCH/load.lua" "$ENDPOINT/" -- "$WORK/$2.lua" >"$WORK/$2.out" 2>&1 ||
        die "wrk failed: $(cat "$WORK/$2.out")"
    "$PY" -c 'import sys, json; sys.path.insert(0, sys.argv[2]); import load_helper as lh; print(json.dumps(lh.read_wrk(sys.argv[1])))' \
        "$WORK/$2.out" "$BENCH"
}
log "DryRun under wrk -t2 -c64 (the path of an event without its durable write)"
DRY=$(run_wrk DryRun dry)
log "Event under wrk -t2 -c64, ${DURATION} s"
EVENT=$(run_wrk Event event)
log "waiting for the dispatcher to run the backlog"
DRAIN=$("${AH[@]}" drained --endpoint "$ENDPOINT" --timeout 1800)
log "202 -> handler, one event at a time"
LAT=$("${AH[@]}" latency --endpoint "$ENDPOINT" --name sink --n 200)
log "Event under wrk -t2 -c64 to a function held at reserved concurrency 0 (acceptance alone)"
mkdir -p "$WORK/held"
cp "$WORK/sink/app.py" "$WORK/held/app.py"
"${LH[@]}" deploy --endpoint "$ENDPOINT" --name held --runtime python3.12 --handler app.handler --dir "$WORK/held"
"$PY" - "$ENDPOINT" "$BENCH" <<'HOLD'
import sys
sys.path.insert(0, sys.argv[2])
import json, load_helper as lh
url = f"{sys.argv[1]}/2017-10-31/functions/held/concurrency"
body = json.dumps({"ReservedConcurrentExecutions": 0}).encode()
from botocore.awsrequest import AWSRequest
from botocore.auth import SigV4Auth
import urllib.parse, http.client
u = urllib.parse.urlsplit(url)
req = AWSRequest(method="PUT", url=url, data=body, headers={"Host": u.netloc})
SigV4Auth(lh._credentials(), "lambda", lh.REGION).add_auth(req)
c = http.client.HTTPConnection(u.hostname, u.port)
c.request("PUT", u.path, body=body, headers=dict(req.headers.items()))
r = c.getresponse()
assert r.status == 200, (r.status, r.read())
HOLD
HELD_URL="$ENDPOINT/2015-03-31/functions/held/invocations"
"${LH[@]}" presign --url "$HELD_URL" --body '{"k":1}' --header "X-Amz-Invocation-Type:Event" \
    --lua "$WORK/held.lua" --headers "$WORK/held.headers"
"$WRK" -t2 -c64 -d"${DURATION}s" --latency -s "$BENCH/load.lua" "$ENDPOINT/" -- "$WORK/held.lua" >"$WORK/held.out" 2>&1 ||
    die "wrk failed: $(cat "$WORK/held.out")"
HELD=$("$PY" -c 'import sys, json; sys.path.insert(0, sys.argv[2]); import load_helper as lh; print(json.dumps(lh.read_wrk(sys.argv[1])))' "$WORK/held.out" "$BENCH")

"$PY" - "$DURATION" "$FSYNC" "$DRY" "$EVENT" "$DRAIN" "$LAT" "$HELD" <<'PY'
import json, sys
dur = float(sys.argv[1])
fsync, dry, ev, drain, lat, held = (json.loads(x) for x in sys.argv[2:])
acked = ev["statuses"].get("202", 0)
bad = ev["requests"] - acked
print(f"\nbench/async.sh: release binary, sandbox launcher, python3.12 MemorySize 128, wrk -t2 -c64 {dur:.0f} s")
print(f"{'figure':<52} {'value':>14} {'baseline (same run)':>30}")
print(f"{'acknowledged events/s (202), 64 senders':<52} {ev['rps']:>14.0f} {str(fsync['per_event']) + ' fsync/record, ' + str(fsync['batched']) + ' batched':>30}")
print(f"{'  non-202 answers, socket errors':<52} {str(bad) + ', ' + str(ev['socket_errors']):>14}")
print(f"{'acknowledgement p50 / p99 (ms)':<52} {'%.2f / %.2f' % (ev['p50_us'] / 1000, ev['p99_us'] / 1000):>14} {'%.2f / %.2f DryRun' % (dry['p50_us'] / 1000, dry['p99_us'] / 1000):>30}")
print(f"{'  added p99 of the durable write (ms)':<52} {(ev['p99_us'] - dry['p99_us']) / 1000:>14.2f} {'%.0f DryRun/s' % dry['rps']:>30}")
total = dur + drain["seconds"]
print(f"{'events run: backlog drained after the load (s)':<52} {drain['seconds']:>14} {'%d events' % acked:>30}")
print(f"{'  events run per second (accepted / (load + drain))':<52} {acked / total:>14.0f}")
print(f"{'202 round trip p50 / p99 (ms), one at a time':<52} {'%.2f / %.2f' % (lat['ack_p50_ms'], lat['ack_p99_ms']):>14}")
print(f"{'202 -> handler p50 / p99 (ms), one at a time':<52} {'%.2f / %.2f' % (lat['e2e_p50_ms'], lat['e2e_p99_ms']):>14}")
print(f"{'acknowledged events/s, dispatch held (reserved 0)':<52} {held['rps']:>14.0f} {'p99 %.2f ms, non-202 %d' % (held['p99_us'] / 1000, held['requests'] - held['statuses'].get('202', 0)):>30}")
PY
