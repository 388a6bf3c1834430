#!/usr/bin/env bash
# bench/load.sh [CPU_MODE...]: what users get from `nimbus serve` under a real load generator.
#
# For each CPU mode (the server's top-level config key `cpu_limit`: weighted, capped or none;
# default: weighted capped; a mode `M+traced` is M with observability on: the functions'
# TracingConfig Active (recorded by X-Ray's default sampling rule: 1 a second, then 5%), spans
# exported over OTLP/HTTP to a receiver (crates/server/tests/otlp/receiver.py, counting them), and
# /metrics scraped every second; `M+traced-all` records every invocation;
# `weighted weighted+traced weighted+traced-all` is an A/B of their cost in one run) it starts a fresh release server (sandbox launcher, fresh data dir),
# deploys hello functions (python3.12, nodejs20.x, provided.al2023; MemorySize 128) and measures,
# each beside a baseline measured in the same run:
#   - warm invoke latency at concurrency 1 (wrk -t1 -c1 --latency): p50, p99;
#       baseline: a minimal keep-alive hyper server (bench/minimal-http) under the same wrk;
#   - warm throughput at concurrency 32 (wrk -t2 -c32), and its ratio to the minimal server's;
#   - Python cold start end to end (update the configuration, invoke once; N=20): p50, p99;
#     and the same after an update of the code (a new package, whose read-only image the first
#     environment makes);
#       baseline: /usr/bin/python3 -I -c 'import <what our bootstrap imports>', timed the same way;
#   - host memory (PSS, USS) per idle environment, environments alive and the server's RSS.
# wrk sends ONE pre-signed SigV4 request per function (signatures carry no nonce and stay valid
# 15 minutes); bench/load.lua counts every non-2xx response and X-Amz-Function-Error, and the
# table flags any, so that a flood of 403s or 429s cannot pass for throughput.
#
# Needs root (the sandbox launcher; apt-get for wrk and, if no Python with botocore is found,
# python3-botocore). Takes about 2.5 minutes per mode after the builds.
# Knobs: LOAD_DURATION (seconds per wrk run, 10), LOAD_COLD_N (20), NIMBUS_LOG (warn),
# LOAD_COMMIT (what to call the source when it is not a git checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench
DURATION=${LOAD_DURATION:-10}
COLD_N=${LOAD_COLD_N:-20}
MODES=("$@")
[ "${#MODES[@]}" -gt 0 ] || MODES=(weighted capped)

log() { printf '[load.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '\n[load.sh %s] FAILED: %s\n' "$(date +%T)" "$*" >&2; exit 1; }

for m in "${MODES[@]}"; do
    case ${m%+traced*} in weighted | capped | none) ;; *) die "unknown CPU mode '$m' (weighted, capped or none, each optionally +traced or +traced-all)" ;; esac
    case $m in *+*) case ${m#*+} in traced | traced-all) ;; *) die "unknown suffix in '$m' (+traced or +traced-all)" ;; esac ;; esac
done
[ "$(id -u)" -eq 0 ] || die "needs root: the sandbox launcher and apt-get"

# ---- Tools -----------------------------------------------------------------------------------
apt_install() {
    log "installing $* from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; } ||
        die "apt-get install $* failed"
}
command -v wrk >/dev/null || apt_install wrk
WRK=$(command -v wrk) || die "wrk is not installed"
WRK_VERSION=$("$WRK" -v 2>&1 | head -n 1 || true)  # wrk -v exits 1
case $WRK_VERSION in wrk*) ;; *) die "$WRK does not run: $WRK_VERSION" ;; esac

# A Python with botocore, never a shim on PATH: the test venv, else Debian's python3-botocore.
PY=
for cand in "$ROOT/.venv-test/bin/python" /usr/bin/python3; do
    if [ -x "$cand" ] && "$cand" -c 'import botocore' 2>/dev/null; then PY=$cand; break; fi
done
if [ -z "$PY" ]; then
    apt_install python3-botocore
    /usr/bin/python3 -c 'import botocore' || die "python3-botocore installed but not importable"
    PY=/usr/bin/python3
fi
HELPER=("$PY" "$BENCH/load_helper.py")
[ -x /usr/bin/python3 ] || die "/usr/bin/python3 (the python3.12 runtime and the baseline) is missing"
[ -x /usr/bin/node ] || die "/usr/bin/node (the nodejs20.x runtime) is missing"

# ---- Builds (one after the other: the machine is shared) --------------------------------------
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
log "cargo build --release -p nimbus-cli --locked"
cargo build --release -p nimbus-cli --locked || die "release build of nimbus-cli failed"
log "cargo build --release -p nimbus-fixture-rust-hello --locked"
cargo build --release -p nimbus-fixture-rust-hello --locked || die "build of the rust-hello fixture failed"
log "building the minimal HTTP baseline (bench/minimal-http, its own workspace)"
MH_MANIFEST=$BENCH/minimal-http/Cargo.toml
cargo build --release --locked --offline --manifest-path "$MH_MANIFEST" 2>/dev/null ||
    cargo build --release --locked --manifest-path "$MH_MANIFEST" || die "build of bench/minimal-http failed"
NIMBUS=$TARGET/release/nimbus
FIXTURE=$TARGET/release/rust-hello
MINIMAL=$BENCH/minimal-http/target/release/nimbus-bench-minimal-http
for f in "$NIMBUS" "$FIXTURE" "$MINIMAL"; do [ -x "$f" ] || die "$f was not built"; done

# ---- Scratch, and cleanup on any exit ---------------------------------------------------------
WORK=$(mktemp -d /tmp/nimbus-load.XXXXXX)
RESULTS=$WORK/results.jsonl
SCOPES=$WORK/cgroup-scopes
SERVER_PID=
MINIMAL_PID=
RECEIVER_PID=
SCRAPER_PID=

stop_observers() {
    if [ -n "$RECEIVER_PID" ] && [ -s "$WORK/receiver.out" ]; then
        log "the trace receiver got $(tail -n +2 "$WORK/receiver.out" | wc -l) export requests, $(tail -n +2 "$WORK/receiver.out" | tr -cd '0-9\n' | awk '{s += $1} END {print s + 0}') spans"
    fi
    if [ -n "$SCRAPER_PID" ]; then kill "$SCRAPER_PID" 2>/dev/null || true; wait "$SCRAPER_PID" 2>/dev/null || true; SCRAPER_PID=; fi
    if [ -n "$RECEIVER_PID" ]; then kill "$RECEIVER_PID" 2>/dev/null || true; wait "$RECEIVER_PID" 2>/dev/null || true; RECEIVER_PID=; fi
}
stop_server() {
    stop_observers
    [ -n "$SERVER_PID" ] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            log "server $SERVER_PID ignored SIGTERM for 15 s: SIGKILL"
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    "${HELPER[@]}" cleanup-cgroups --scopes "$SCOPES" || true
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_server
    if [ -n "$MINIMAL_PID" ]; then kill "$MINIMAL_PID" 2>/dev/null || true; wait "$MINIMAL_PID" 2>/dev/null || true; fi
    if [ "$rc" -ne 0 ] && [ -n "${DATA:-}" ] && [ -s "$DATA.err" ]; then
        printf '\n--- last lines of the server log (%s.err) ---\n' "$DATA" >&2
        tail -n 20 "$DATA.err" >&2 || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_line FILE PID SECONDS: the "listening on ADDR" line of a starting server, or nothing if
# the process exited or the time ran out.
wait_line() {
    local deadline=$((SECONDS + $3))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if grep -q '^listening on ' "$1" 2>/dev/null; then
            sed -n 's/^listening on //p' "$1" | head -n 1
            return 0
        fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# ---- The functions ----------------------------------------------------------------------------
mkdir -p "$WORK/fn/python" "$WORK/fn/node" "$WORK/fn/provided"
printf 'def handler(event, context):\n    return {"ok": True}\n' >"$WORK/fn/python/app.py"
printf 'exports.handler = async () => ({ok:true});\n' >"$WORK/fn/node/index.js"
cp "$FIXTURE" "$WORK/fn/provided/bootstrap" && chmod 0755 "$WORK/fn/provided/bootstrap"
# name runtime handler expected-output-substring
FUNCTIONS=(
    "python|python3.12|app.handler|\"ok\": true"
    "node|nodejs20.x|index.handler|\"ok\":true"
    "provided|provided.al2023|bootstrap|hello from rust"
)
# What our Python bootstrap imports at start-up (its top-level imports), for the baseline.
PY_IMPORTS=$(sed -n 's/^import \([a-z_][a-z_0-9]*\)$/\1/p' "$ROOT/runtimes/python/bootstrap.py" | paste -sd, | sed 's/,/, /g')
[ -n "$PY_IMPORTS" ] || die "could not read the imports of runtimes/python/bootstrap.py"

# ---- The baseline server, up for the whole run --------------------------------------------------
"$MINIMAL" 127.0.0.1:0 >"$WORK/minimal.out" 2>"$WORK/minimal.err" &
MINIMAL_PID=$!
MINIMAL_ADDR=$(wait_line "$WORK/minimal.out" "$MINIMAL_PID" 10) || die "the minimal HTTP server did not start: $(cat "$WORK/minimal.err")"
log "minimal HTTP baseline on $MINIMAL_ADDR"

commit_text() {
    local c
    if c=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
        git -C "$ROOT" diff --quiet HEAD -- crates runtimes Cargo.toml Cargo.lock 2>/dev/null || c="$c + uncommitted changes in crates/ or runtimes/"
        echo "$c"
    else
        echo "${LOAD_COMMIT:-unknown (not a git checkout)}"
    fi
}
"${HELPER[@]}" record --results "$RESULTS" --json "$(printf '{"kind":"meta","date":"%s","commit":"%s","cpus":%s,"wrk":"%s","duration":%s}' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "$(commit_text)" \
    "$(nproc)" "$(cut -d' ' -f1-2 <<<"$WRK_VERSION")" "$DURATION")"

# start_server MODE [traced]: a fresh server with `cpu_limit = MODE` (no key if MODE is empty),
# and with `traced`, a trace receiver it exports to and a scraper of its /metrics. Sets
# SERVER_PID, ENDPOINT and DATA; returns 2 if the server refused the cpu_limit key.
start_server() {
    DATA=$(mktemp -d "$WORK/data-XXXX")
    local cfg=$DATA.toml
    local traces_port=
    if [ -n "${2:-}" ]; then
        "$PY" -c 'import opentelemetry.proto' 2>/dev/null ||
            die "$PY has no opentelemetry-proto for the trace receiver (./scripts/test.sh installs it)"
        "$PY" "$ROOT/crates/server/tests/otlp/receiver.py" --count >"$WORK/receiver.out" 2>"$WORK/receiver.err" &
        RECEIVER_PID=$!
        for _ in $(seq 1 100); do traces_port=$(head -n 1 "$WORK/receiver.out" 2>/dev/null); [ -n "$traces_port" ] && break; sleep 0.05; done
        [ -n "$traces_port" ] || die "the trace receiver did not start: $(cat "$WORK/receiver.err")"
    fi
    {
        echo 'launcher = "sandbox"'
        [ -z "$1" ] || echo "cpu_limit = \"$1\""
        if [ -n "$traces_port" ]; then
            printf '[metrics]\ntoken = "bench-metrics-token"\n[traces]\notlp_endpoint = "http://127.0.0.1:%s"\n' "$traces_port"
            [ "$2" != traced-all ] || echo 'sample_rate = 1.0'

        fi
    } >"$cfg"
    NIMBUS_LOG=${NIMBUS_LOG:-warn} "$NIMBUS" serve --config "$cfg" --data-dir "$DATA" --listen 127.0.0.1:0 --url-listen 127.0.0.1:0 \
        >"$DATA.out" 2>"$DATA.err" &
    SERVER_PID=$!
    local addr
    if ! addr=$(wait_line "$DATA.out" "$SERVER_PID" 30); then
        if ! kill -0 "$SERVER_PID" 2>/dev/null && [ -n "$1" ] && grep -q 'cpu_limit' "$DATA.err"; then
            wait "$SERVER_PID" 2>/dev/null || true
            SERVER_PID=
            return 2
        fi
        die "nimbus serve did not start within 30 s (config: $(tr '\n' ' ' <"$cfg")): $(tail -n 5 "$DATA.err")"
    fi
    ENDPOINT=http://$addr
    local i
    for i in $(seq 1 100); do [ -s "$DATA/credentials" ] && break; sleep 0.05; done
    [ -s "$DATA/credentials" ] || die "the server wrote no $DATA/credentials"
    export AWS_SHARED_CREDENTIALS_FILE=$DATA/credentials AWS_PROFILE=nimbus AWS_REGION=us-east-1 \
        AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL || true
    curl -fsS --max-time 5 "$ENDPOINT/health" >/dev/null || die "GET $ENDPOINT/health does not answer"
    if [ -n "$traces_port" ]; then
        curl -fsS --max-time 5 -H 'Authorization: Bearer bench-metrics-token' "$ENDPOINT/metrics" >/dev/null ||
            die "GET $ENDPOINT/metrics does not answer"
        (while sleep 1; do curl -sS --max-time 5 -H 'Authorization: Bearer bench-metrics-token' "$ENDPOINT/metrics" >/dev/null || true; done) &
        SCRAPER_PID=$!
    fi
    log "nimbus serve (pid $SERVER_PID) on $ENDPOINT, config: $(tr '\n' ' ' <"$cfg")"
}

# measure TARGET MODE CONC THREADS LUA URL: one measured wrk run, recorded. At c=32 the function's
# environments are also counted while the run is on (2 s before its end) and right after it.
measure() {
    local target=$1 mode=$2 conc=$3 threads=$4 lua=$5 url=$6 sampler=
    if [ "$target" != minimal ] && [ "$conc" -gt 1 ]; then
        (sleep $((DURATION > 3 ? DURATION - 2 : 1)) && "${HELPER[@]}" envs --server-pid "$SERVER_PID" --results "$RESULTS" \
            --mode "$mode" --stage "during-c$conc-$target" --scopes "$SCOPES") &
        sampler=$!
    fi
    timeout $((DURATION + 60)) "$WRK" -t"$threads" -c"$conc" -d"${DURATION}s" --timeout 10s --latency -s "$BENCH/load.lua" "$url" -- "$lua" \
        >"$WORK/wrk.out" 2>&1 || die "wrk against $target (c=$conc) failed: $(cat "$WORK/wrk.out")"
    if [ -n "$sampler" ]; then
        wait "$sampler" || die "could not read the environments during the run"
        "${HELPER[@]}" envs --server-pid "$SERVER_PID" --results "$RESULTS" --mode "$mode" --stage "after-c$conc-$target" ||
            die "could not read the environments"
    fi
    "${HELPER[@]}" record-wrk --results "$RESULTS" --mode "$mode" --target "$target" --conc "$conc" --file "$WORK/wrk.out" ||
        die "could not read wrk's result for $target"
}

# bench TARGET MODE CONC THREADS LUA URL: warm-up, then the measured run. The minimal server is
# warmed by wrk itself; functions by `prewarm`, a client that waits for every response: wrk
# ends each run by closing its connections with requests in flight, and Nimbus destroys the
# environments of invocations whose client went away, so a wrk warm-up would leave (up to CONC)
# cold starts to the measured run.
bench() {
    local target=$1 mode=$2 conc=$3 threads=$4 lua=$5 url=$6
    if [ "$target" = minimal ]; then
        timeout 60 "$WRK" -t"$threads" -c"$conc" -d2s -s "$BENCH/load.lua" "$url" -- "$lua" >"$WORK/wrk-warm.out" 2>&1 ||
            die "wrk warm-up against the minimal server failed: $(cat "$WORK/wrk-warm.out")"
    else
        timeout 180 "${HELPER[@]}" prewarm --endpoint "$ENDPOINT" --name "$target" --conc "$conc" \
            --rounds $((conc == 1 ? 50 : 10)) || die "could not warm $target up (c=$conc)"
    fi
    measure "$@"
}

FALLBACK_DONE=
run_mode() {
    local mode=${1%+traced*} label=$1 rc=0 traced= tracing=PassThrough
    if [ "$mode" != "$1" ]; then traced=${1#*+}; tracing=Active; fi
    log "=== cpu_limit = \"$mode\"${traced:+, traced} ==="
    start_server "$mode" "$traced" || rc=$?
    if [ "$rc" -eq 2 ]; then
        local err
        err=$(grep -m1 -i 'cpu_limit' "$DATA.err" || true)
        log "the server refused cpu_limit = \"$mode\": $err"
        if [ -n "$FALLBACK_DONE" ]; then
            "${HELPER[@]}" record --results "$RESULTS" --json "$("$PY" -c 'import json,sys; print(json.dumps({"kind":"mode","mode":sys.argv[1],"available":False,"error":sys.argv[2],"same_as":sys.argv[3]}))' "$mode" "$err" "$FALLBACK_DONE")"
            log "already measured without the key (as \"$FALLBACK_DONE\"): skipping"
            return 0
        fi
        FALLBACK_DONE=$mode
        log "falling back to no cpu_limit key"
        start_server "" "$traced" || die "the server did not start without cpu_limit either"
        "${HELPER[@]}" record --results "$RESULTS" --json "$("$PY" -c 'import json,sys; print(json.dumps({"kind":"mode","mode":sys.argv[1],"available":False,"error":sys.argv[2],"loadavg":sys.argv[3]}))' "$label" "$err" "$(cut -d' ' -f1-3 /proc/loadavg)")"
    else
        "${HELPER[@]}" record --results "$RESULTS" --json "{\"kind\":\"mode\",\"mode\":\"$label\",\"available\":true,\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
    fi

    local spec name runtime handler expect code
    for spec in "${FUNCTIONS[@]}"; do
        IFS='|' read -r name runtime handler expect <<<"$spec"
        timeout 90 "${HELPER[@]}" deploy --endpoint "$ENDPOINT" --name "$name" --runtime "$runtime" \
            --handler "$handler" --dir "$WORK/fn/$name" --tracing "$tracing" || die "could not deploy $name ($runtime)"
    done
    # One pre-signed request per function for wrk; each checked by hand with curl first.
    for spec in "${FUNCTIONS[@]}"; do
        IFS='|' read -r name runtime handler expect <<<"$spec"
        "${HELPER[@]}" presign --url "$ENDPOINT/2015-03-31/functions/$name/invocations" \
            --lua "$WORK/$name.req.lua" --headers "$WORK/$name.headers" || die "could not sign for $name"
        code=$(curl -sS --max-time 30 -o "$WORK/$name.body" -w '%{http_code}' -X POST -H @"$WORK/$name.headers" \
            --data-binary '{}' "$ENDPOINT/2015-03-31/functions/$name/invocations") || die "curl invoke of $name did not answer"
        [ "$code" = 200 ] || die "pre-signed invoke of $name answered HTTP $code: $(head -c 300 "$WORK/$name.body")"
        grep -qF "$expect" "$WORK/$name.body" || die "pre-signed invoke of $name answered 200 but not its output: $(head -c 300 "$WORK/$name.body")"
        log "curl, pre-signed invoke of $name: 200 $(head -c 100 "$WORK/$name.body")"
    done
    # The baseline gets the same request bytes (headers and body), at path /.
    "${HELPER[@]}" presign --url "http://$MINIMAL_ADDR/" --lua "$WORK/minimal.req.lua" --headers "$WORK/minimal.headers"
    code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -X POST -H @"$WORK/minimal.headers" --data-binary '{}' "http://$MINIMAL_ADDR/") || true
    [ "$code" = 200 ] || die "the minimal HTTP server answered '$code'"

    log "warm latency, concurrency 1 (${DURATION} s each, after a warm-up)"
    bench minimal "$label" 1 1 "$WORK/minimal.req.lua" "http://$MINIMAL_ADDR/"
    for name in python node provided; do
        bench "$name" "$label" 1 1 "$WORK/$name.req.lua" "$ENDPOINT/"
    done
    # Memory of one idle environment per function (wrk's end destroyed the busy ones).
    for name in python node provided; do
        timeout 60 "${HELPER[@]}" prewarm --endpoint "$ENDPOINT" --name "$name" --conc 1 --rounds 5 || die "could not warm $name"
    done
    sleep 1
    "${HELPER[@]}" envs --server-pid "$SERVER_PID" --results "$RESULTS" --mode "$label" --stage c1 --scopes "$SCOPES" ||
        die "could not read the environments"

    log "warm throughput, concurrency 32 (${DURATION} s each, after a warm-up)"
    bench minimal "$label" 32 2 "$WORK/minimal.req.lua" "http://$MINIMAL_ADDR/"
    for name in python provided node; do
        bench "$name" "$label" 32 2 "$WORK/$name.req.lua" "$ENDPOINT/"
    done
    # Idle memory with 32 environments per function: warm them again (wrk's end destroyed the
    # busy ones), by 32 clients that wait for their responses.
    for name in python provided node; do
        timeout 120 "${HELPER[@]}" prewarm --endpoint "$ENDPOINT" --name "$name" --conc 32 --rounds 2 || die "could not warm $name"
    done
    sleep 1
    "${HELPER[@]}" envs --server-pid "$SERVER_PID" --results "$RESULTS" --mode "$label" --stage c32-end --scopes "$SCOPES" ||
        die "could not read the environments"

    log "Python cold start, N=$COLD_N, and its baseline"
    timeout 300 "${HELPER[@]}" cold --endpoint "$ENDPOINT" --name python --n "$COLD_N" --results "$RESULTS" --mode "$label" ||
        die "cold-start measurement failed"
    timeout 300 "${HELPER[@]}" cold --endpoint "$ENDPOINT" --name python --n "$COLD_N" --results "$RESULTS" --mode "$label" \
        --new-code "$WORK/fn/python" || die "cold-start measurement with new code failed"
    timeout 120 "${HELPER[@]}" pybase --n "$COLD_N" --imports "$PY_IMPORTS" --results "$RESULTS" --mode "$label" ||
        die "baseline of the Python start-up failed"

    kill -0 "$SERVER_PID" 2>/dev/null || die "the server died during the run"
    "${HELPER[@]}" record --results "$RESULTS" --json "{\"kind\":\"modeend\",\"mode\":\"$label\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
    stop_server
}

for m in "${MODES[@]}"; do
    run_mode "$m"
done
"${HELPER[@]}" report --results "$RESULTS"
