#!/usr/bin/env bash
# bench/scale.sh [N]: scaling from zero, many idle environments, and what they cost, with the
# release binary, the sandbox launcher and MemorySize 128 (EphemeralStorage 512), each figure
# beside a baseline measured in the same run:
#   - new environments per second from zero: N invocations at once of a Python function that
#     holds its environment 2 s, so each needs its own; cold starts counted from REPORT's Init
#     Duration; rate = cold starts / (wall time - 2 s);
#       baseline: N `/usr/bin/python3 -I -c 'import <the runtime's imports>'` started at once;
#   - the N idle environments that remain: host memory (PSS of every process under the server)
#     and the server's own resident set;
#   - a warm hello invoke at concurrency 1 (wrk, pre-signed SigV4 request, bench/load.lua):
#     p50/p99 with one environment alive, then again with the N idle ones alive.
# N defaults to 100. The server admits a /tmp image only while the data disk's free space covers
# every live image at its full size plus 1 GiB (512 MB each here), divided by the configured
# `ephemeral_storage_overcommit` (SCALE_OVERCOMMIT, default 1): N beyond that is refused by
# design, and the script says so rather than measuring failures.
# Needs root (the sandbox launcher; apt-get for wrk). Knobs: SCALE_HOLD (2), LOAD_DURATION (10),
# SCALE_OVERCOMMIT (1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench
N=${1:-100}
HOLD=${SCALE_HOLD:-2}
OVERCOMMIT=${SCALE_OVERCOMMIT:-1}
DURATION=${LOAD_DURATION:-10}

log() { printf '[scale.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
    printf '\n[scale.sh %s] FAILED: %s\n' "$(date +%T)" "$*" >&2
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
H=("$PY" "$BENCH/scale_helper.py")

free_kb=$(df -Pk /tmp | awk 'NR==2 {print $4}')
# The pool keeps two images ready beyond the environments.
fits=$(( (free_kb / 1024 - 1024) * OVERCOMMIT / 512 - 2 ))
[ "$N" -le "$fits" ] || die "$N environments of 512 MB /tmp need $((N * 512 / OVERCOMMIT + 1024)) MB free on the data disk at overcommit $OVERCOMMIT; it has $((free_kb / 1024)) MB (at most $fits fit; raise SCALE_OVERCOMMIT)"

log "building the release binary"
cargo build --release --locked -p nimbus-cli >/dev/null 2>&1 || cargo build --release --locked -p nimbus-cli
NIMBUS=$ROOT/target/release/nimbus

WORK=$(mktemp -d /tmp/nimbus-scale-XXXX)
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
printf 'launcher = "sandbox"\nconcurrent_executions = %d\nkeep_alive_seconds = 3600\nephemeral_storage_overcommit = %s\n' \
    $((N + 200)) "$OVERCOMMIT" >"$WORK/nimbus.toml"
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
log "server $SERVER_PID on $ENDPOINT"

mkdir -p "$WORK/hold" "$WORK/hello"
printf 'import time\ndef handler(event, context):\n    time.sleep(event.get("s", 0))\n    return "held"\n' >"$WORK/hold/app.py"
printf 'def handler(event, context):\n    return {"hello": True}\n' >"$WORK/hello/app.py"
for f in hold hello; do
    "$PY" "$BENCH/load_helper.py" deploy --endpoint "$ENDPOINT" --name "$f" --runtime python3.12 \
        --handler app.handler --dir "$WORK/$f"
done

warm() {
    "$PY" "$BENCH/load_helper.py" presign --url "$ENDPOINT/2015-03-31/functions/hello/invocations" \
        --lua "$WORK/hello.lua" --headers "$WORK/hello.headers"
    "$PY" "$BENCH/load_helper.py" check --endpoint "$ENDPOINT" --name hello --expect hello >/dev/null
    "$WRK" -t1 -c1 -d"${DURATION}s" --latency -s "$BENCH/load.lua" "$ENDPOINT/" -- "$WORK/hello.lua" >"$WORK/wrk.out" 2>&1 ||
        die "wrk failed: $(cat "$WORK/wrk.out")"
    "${H[@]}" wrk-line --file "$WORK/wrk.out"
}

log "warm hello, one environment alive"
WARM_ONE=$(warm)
MEM_ONE=$("${H[@]}" memory --server-pid "$SERVER_PID")
log "baseline: $N interpreters at once"
SPAWN=$("${H[@]}" spawn --n "$N")
log "$N invocations at once, each holding its environment ${HOLD} s"
BURST=$("${H[@]}" burst --endpoint "$ENDPOINT" --name hold --n "$N" --hold "$HOLD") || die "the burst failed"
sleep 2
MEM_N=$("${H[@]}" memory --server-pid "$SERVER_PID")
log "warm hello, $N idle environments alive"
WARM_N=$(warm)

"$PY" - "$N" "$SPAWN" "$BURST" "$MEM_ONE" "$MEM_N" "$WARM_ONE" "$WARM_N" <<'PY'
import json, sys
n = int(sys.argv[1])
spawn, burst, mem1, memn, w1, wn = (json.loads(x) for x in sys.argv[2:])
print(f"\nbench/scale.sh: N={n}, release binary, sandbox launcher, MemorySize 128, EphemeralStorage 512")
print(f"{'figure':<58} {'value':>14} {'baseline (same run)':>22}")
print(f"{'new environments per second from zero':<58} {burst['envs_per_s']:>14} {str(spawn['per_s']) + ' python3 -I/s':>22}")
print(f"{'  cold starts of N, wall time (s)':<58} {str(burst['cold']) + ' / ' + str(burst['wall_s']):>14} {str(spawn['wall_s']) + ' s for N':>22}")
extra = memn["pss_mib"] - mem1["pss_mib"]
print(f"{'host memory, N idle environments (PSS MiB, all)':<58} {memn['pss_mib']:>14} {str(mem1['pss_mib']) + ' with one':>22}")
print(f"{'  per idle environment (MiB)':<58} {round(extra / max(burst['cold'], 1), 2):>14}")
print(f"{'server RSS (MiB)':<58} {memn['server_rss_mib']:>14} {str(mem1['server_rss_mib']) + ' with one':>22}")
print(f"{'warm hello p50 / p99 (ms), N alive':<58} {wn['p50_us'] / 1000:>7.2f} / {wn['p99_us'] / 1000:<6.2f} {'%.2f / %.2f one alive' % (w1['p50_us'] / 1000, w1['p99_us'] / 1000):>22}")
PY
