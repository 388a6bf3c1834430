#!/usr/bin/env bash
# bench/sqs.sh: SQS throughput of a release `nimbus serve` under real load generators, beside
# baselines measured in the same run.
#
# A fresh release server (process launcher: no function runs, so no root is needed; a fresh
# data dir on the same disk as the repository's target dir; SQLite WAL, synchronous=FULL: every
# send is fsynced before its answer) and bench/minimal-http (a bare keep-alive hyper server).
# Then, at concurrency SQS_CONCURRENCY (16), each for SQS_DURATION seconds (10) or until the
# work runs out, with crates/cli/benches/sqs_load.rs (closed loop, keep-alive, every request
# signed anew as an SDK signs it):
#   http-floor    GET / of the minimal server: the generator's and loopback HTTP's own cost;
#   signed-read   GetQueueUrl: SigV4 verified, one read, no write: the server's SQS floor;
#   send          SendMessage, SQS_BODY_BYTES (256) per message;
#   send-batch    SendMessageBatch of 10;
#   receive       ReceiveMessage of up to 10 (VisibilityTimeout 3600), every handle kept;
#   delete        DeleteMessage, half of those handles one by one;
#   delete-batch  DeleteMessageBatch of 10, the other half.
# And, as a cross-check of the generator, wrk (bench/load.lua) replaying one pre-signed
# SendMessage and GET / of the minimal server at the same concurrency.
# Any answer other than 200 fails the run. Installs wrk from Debian if missing (needs root
# then). About a minute after the builds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${SQS_DURATION:-10}
CONC=${SQS_CONCURRENCY:-16}
export SQS_DURATION=$DURATION SQS_CONCURRENCY=$CONC SQS_BODY_BYTES=${SQS_BODY_BYTES:-256}

log() { printf '[sqs.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '\n[sqs.sh %s] FAILED: %s\n' "$(date +%T)" "$*" >&2; exit 1; }

if ! command -v wrk >/dev/null; then
    log "installing wrk from Debian"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }; } ||
        die "apt-get install wrk failed"
fi
WRK=$(command -v wrk)

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
log "cargo build --release -p nimbus-cli --locked"
cargo build --release -p nimbus-cli --locked || die "release build failed"
log "building the load generator (cargo bench --no-run --bench sqs_load)"
cargo bench -p nimbus-cli --bench sqs_load --locked --no-run 2>"$TARGET/sqs_load.build" || { cat "$TARGET/sqs_load.build" >&2; die "build of the load generator failed"; }
LOADGEN=$(ls -t "$TARGET"/release/deps/sqs_load-* 2>/dev/null | grep -v '\.d$' | head -n 1)
[ -x "$LOADGEN" ] || die "the load generator was not built"
MH_MANIFEST=$ROOT/bench/minimal-http/Cargo.toml
# Its own workspace, its own target dir (whatever CARGO_TARGET_DIR says).
MH_TARGET=$ROOT/bench/minimal-http/target
CARGO_TARGET_DIR=$MH_TARGET cargo build --release --locked --offline --manifest-path "$MH_MANIFEST" 2>/dev/null ||
    CARGO_TARGET_DIR=$MH_TARGET cargo build --release --locked --manifest-path "$MH_MANIFEST" || die "build of bench/minimal-http failed"
MINIMAL=$MH_TARGET/release/nimbus-bench-minimal-http
NIMBUS=$TARGET/release/nimbus

WORK=$(mktemp -d "$TARGET/sqs-bench.XXXXXX")
SERVER_PID=
MINIMAL_PID=
cleanup() {
    local rc=$?
    trap - EXIT
    for p in $SERVER_PID $MINIMAL_PID; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    [ "$rc" -eq 0 ] || { [ -s "$WORK/server.err" ] && tail -n 20 "$WORK/server.err" >&2; }
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

wait_line() {  # FILE PID SECONDS -> the address of a "listening on ADDR" line
    local deadline=$((SECONDS + $3))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if grep -q 'listening on ' "$1" 2>/dev/null; then
            sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$1" | head -n 1
            return 0
        fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

export NIMBUS_ACCESS_KEY_ID=NKIABENCHSQSBENCH001
export NIMBUS_SECRET_ACCESS_KEY=bench-secret-sqs-0123456789abcdefghijkl
printf 'launcher = "process"\n' >"$WORK/nimbus.toml"
printf '%s' "$NIMBUS_SECRET_ACCESS_KEY" >"$WORK/secret"
NIMBUS_LOG=${NIMBUS_LOG:-warn} "$NIMBUS" serve --config "$WORK/nimbus.toml" --data-dir "$WORK/data" \
    --listen 127.0.0.1:0 --url-listen 127.0.0.1:0 --access-key-id "$NIMBUS_ACCESS_KEY_ID" --secret-access-key-file "$WORK/secret" \
    >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
ADDR=$(wait_line "$WORK/server.out" "$SERVER_PID" 30) || ADDR=$(wait_line "$WORK/server.err" "$SERVER_PID" 1) ||
    die "nimbus serve did not start: $(tail -n 5 "$WORK/server.err")"
"$MINIMAL" 127.0.0.1:0 >"$WORK/minimal.out" 2>&1 &
MINIMAL_PID=$!
MINIMAL_ADDR=$(wait_line "$WORK/minimal.out" "$MINIMAL_PID" 10) || die "the minimal HTTP server did not start"
log "nimbus on $ADDR, minimal HTTP baseline on $MINIMAL_ADDR; $(nproc) CPUs, concurrency $CONC, ${DURATION}s per phase"

export SQS_ENDPOINT=http://$ADDR SQS_MINIMAL=http://$MINIMAL_ADDR
"$LOADGEN" >"$WORK/loadgen.out" || { cat "$WORK/loadgen.out"; die "the load generator failed"; }

# wrk cross-check: the same concurrency, two threads, one pre-signed request replayed.
SQS_PRESIGN=$WORK/send.lua "$LOADGEN" || die "could not pre-sign a SendMessage"
printf 'return { method = "GET", path = "/", headers = {}, body = "" }\n' >"$WORK/get.lua"
wrk_run() {  # NAME URL LUA
    "$WRK" -t2 -c"$CONC" -d"${DURATION}s" --latency -s "$ROOT/bench/load.lua" "$2" -- "$3" >"$WORK/wrk.$1" 2>&1 ||
        die "wrk $1 failed: $(tail -n 3 "$WORK/wrk.$1")"
    sed -n "s/^WRK_JSON /SQS_WRK $1 /p" "$WORK/wrk.$1" >>"$WORK/loadgen.out"
}
wrk_run http-floor "http://$MINIMAL_ADDR/" "$WORK/get.lua"
wrk_run send "http://$ADDR/" "$WORK/send.lua"

python3 - "$WORK/loadgen.out" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY'
import json, sys
rows, wrk = [], {}
for line in open(sys.argv[1]):
    if line.startswith("SQS_JSON "):
        rows.append(json.loads(line[9:]))
    elif line.startswith("SQS_WRK "):
        _, name, rest = line.split(" ", 2)
        wrk[name] = json.loads(rest)
floor = next((r for r in rows if r["phase"] == "http-floor"), None)
print(f"\nSQS throughput (commit {sys.argv[2]}), sqs_load generator, closed loop:")
print(f"{'phase':<14}{'conc':>5}{'req/s':>10}{'msg/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'vs floor':>10}{'failed':>8}")
bad = 0
for r in rows:
    ratio = f"{r['requests_per_s'] / floor['requests_per_s']:.2f}x" if floor and floor["requests_per_s"] else "-"
    msgs = f"{r['messages_per_s']:.0f}" if r["messages_per_s"] else "-"
    print(f"{r['phase']:<14}{r['concurrency']:>5}{r['requests_per_s']:>10.0f}{msgs:>10}{r['p50_us']/1000:>9.2f}{r['p99_us']/1000:>9.2f}{ratio:>10}{r['failed']:>8}")
    bad += r["failed"]
print("\nwrk cross-check (-t2, same concurrency, one request replayed):")
for name, w in wrk.items():
    rps = w["requests"] / (w["duration_us"] / 1e6)
    errs = sum(w["errors"].values())
    print(f"{name:<14}{rps:>10.0f} req/s  p50 {w['p50_us']/1000:.2f} ms  p99 {w['p99_us']/1000:.2f} ms  non-2xx {w['non2xx']}  socket errors {errs}")
    bad += w["non2xx"] + errs
sys.exit(1 if bad else 0)
PY
