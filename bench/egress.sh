#!/usr/bin/env bash
# bench/egress.sh: what `network.egress = "nat"` costs, measured where no packet leaves the
# machine. A release server (sandbox launcher, MemorySize 128) runs in a network namespace of
# its own whose only route out leads to a second namespace, the "remote host", which serves a
# 256 MiB file over HTTP. Figures, same run:
#   - cold start end to end (update the configuration, wait for the standby pool, invoke; N
#     rounds, alternating): a nat function vs a none function (goal: <= 1 ms added);
#   - a nat function downloading the file vs the server's own namespace (the host) downloading
#     it with the same interpreter and code.
# Needs root, ip, nsenter, nft, and a Python with boto3 (./scripts/test.sh makes .venv-test).
# Knobs: EGRESS_COLD_N (20).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${EGRESS_COLD_N:-20}
log() { printf '[egress.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '[egress.sh] FAILED: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root"
for t in ip nsenter nft; do command -v $t >/dev/null || die "$t is not installed"; done
PY=$ROOT/.venv-test/bin/python
"$PY" -c 'import boto3' 2>/dev/null || die "no boto3 in $PY: run ./scripts/test.sh once"

log "cargo build --release -p nimbus-cli --locked"
cargo build --release -p nimbus-cli --locked >&2
NIMBUS=${CARGO_TARGET_DIR:-$ROOT/target}/release/nimbus

TAG=eb$$
SRV=$TAG-s REM=$TAG-r
WORK=$(mktemp -d /tmp/nimbus-egress.XXXXXX)
SERVER_PID= HTTP_PID=
cleanup() {
    [ -z "$SERVER_PID" ] || { kill -TERM "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true; }
    [ -z "$HTTP_PID" ] || { kill "$HTTP_PID" 2>/dev/null; wait "$HTTP_PID" 2>/dev/null || true; }
    ip netns del "$SRV" 2>/dev/null || true
    ip netns del "$REM" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
in_srv() { nsenter --net=/var/run/netns/$SRV "$@"; }

ip netns add "$SRV"; ip netns add "$REM"
ip link add ${TAG}a type veth peer name ${TAG}b
ip link set ${TAG}a netns "$SRV"; ip link set ${TAG}b netns "$REM"
ip -n "$SRV" link set lo up; ip -n "$SRV" link set ${TAG}a up
ip -n "$SRV" addr add 203.0.113.1/24 dev ${TAG}a
ip -n "$SRV" route add default via 203.0.113.2
ip -n "$REM" link set lo up; ip -n "$REM" link set ${TAG}b up
ip -n "$REM" addr add 203.0.113.2/24 dev ${TAG}b
ip -n "$REM" addr add 198.51.100.1/32 dev lo

mkdir -p "$WORK/www"
head -c $((256 << 20)) /dev/urandom >"$WORK/www/blob"
nsenter --net=/var/run/netns/$REM /usr/bin/python3 -m http.server --bind 0.0.0.0 8080 \
    --directory "$WORK/www" >/dev/null 2>&1 &
HTTP_PID=$!
URL=http://198.51.100.1:8080/blob

mkdir -p "$WORK/data"
cat >"$WORK/nimbus.toml" <<EOF
launcher = "sandbox"
[network]
egress = "nat"
deny = []
EOF
NIMBUS_LOG=warn in_srv "$NIMBUS" serve --config "$WORK/nimbus.toml" --data-dir "$WORK/data" \
    --listen 127.0.0.1:0 --url-listen 127.0.0.1:0 >"$WORK/out" 2>"$WORK/err" &
SERVER_PID=$!
for _ in $(seq 1 100); do grep -q '^listening on ' "$WORK/out" 2>/dev/null && break; sleep 0.1; done
ADDR=$(sed -n 's/^listening on //p' "$WORK/out" | head -n 1)
[ -n "$ADDR" ] || die "the server did not start: $(tail -5 "$WORK/err")"
ENDPOINT=http://$ADDR
for _ in $(seq 1 50); do [ -s "$WORK/data/credentials" ] && break; sleep 0.1; done
for _ in $(seq 1 50); do in_srv curl -fsS -o /dev/null "$URL" 2>/dev/null && break; sleep 0.1; done
log "server $ENDPOINT in $SRV; remote http://198.51.100.1:8080 in $REM; commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

log "cold starts, nat vs none, $N rounds"
in_srv "$PY" "$ROOT/bench/egress_helper.py" cold "$ENDPOINT" "$WORK/data/credentials" "$N"
log "streaming 256 MiB from the remote host"
in_srv /usr/bin/python3 "$ROOT/bench/egress_helper.py" fetch "$URL"
in_srv "$PY" "$ROOT/bench/egress_helper.py" stream "$ENDPOINT" "$WORK/data/credentials" "$URL"
