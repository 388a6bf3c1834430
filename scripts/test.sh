#!/usr/bin/env bash
# Runs every test of Nimbus, after installing what the tests need. Idempotent: a second run
# installs nothing. Needs root (or sudo) only when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: the AWS CLI (the real client the compatibility tests drive), venv for boto3,
# Node.js for the nodejs runtime, npm to fetch the JavaScript SDK the nodejs runtime provides.
missing=()
[ -x /usr/bin/aws ] || missing+=(awscli)
[ -x /usr/bin/node ] || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# nftables: the egress network's firewall (its tests run in network namespaces of their own).
[ -x /usr/sbin/nft ] || missing+=(nftables)
command -v nsenter >/dev/null || missing+=(util-linux)
# curl: the function URL tests fetch a URL exactly as the API returns it (*.localhost).
[ -x /usr/bin/curl ] || missing+=(curl)
# ip: the network namespaces the egress tests (and the isolation tests with nat) run in.
command -v ip >/dev/null || missing+=(iproute2)
# prometheus: a real Prometheus scrapes the server in the metrics test.
[ -x /usr/bin/prometheus ] || missing+=(prometheus)
# mkfs.ext4 and debugfs: the sandbox's /tmp and its read-only copies of code and runtimes.
{ [ -x /usr/sbin/mkfs.ext4 ] && [ -x /usr/sbin/debugfs ]; } || missing+=(e2fsprogs)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "test.sh: installing ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python packages in a private environment built on the machine's interpreter (never a shim).
venv="$PWD/.venv-test"
# boto3 drives the API; awslambdaric (AWS's Python runtime interface client) runs as a function;
# opentelemetry-proto (OpenTelemetry's own OTLP schema) decodes what the traces test receives.
if ! "$venv/bin/python" -c 'import boto3, awslambdaric, opentelemetry.proto' 2>/dev/null; then
    echo "test.sh: installing boto3, awslambdaric and opentelemetry-proto into $venv"
    [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check boto3 awslambdaric opentelemetry-proto
fi

# awslambdaric again, as a function bundles it: a plain directory to zip into a package.
if [ ! -d "$venv/ric-package/awslambdaric" ]; then
    echo "test.sh: preparing an awslambdaric function package in $venv/ric-package"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --target "$venv/ric-package" awslambdaric
fi

# The AWS SDKs the runtimes provide (boto3, the JavaScript SDK v3), at their pinned versions,
# as an operator installs them: `nimbus sdk install` (a no-op when they are in place).
cargo build --locked -p nimbus-cli
sdk="$PWD/.sdk-test"
"${CARGO_TARGET_DIR:-target}/debug/nimbus" sdk install --dir "$sdk" --pip-python "$venv/bin/python"

# The JavaScript SDK v3 SQS client the SQS compatibility tests drive, at the version its
# package-lock pins, into a test directory of its own (reinstalled when the lock changes).
sqsjs="$PWD/.sqs-js-test"
if ! cmp -s crates/cli/tests/compat/sqs-js/package-lock.json "$sqsjs/package-lock.json" \
    || [ ! -f "$sqsjs/node_modules/@aws-sdk/client-sqs/package.json" ]; then
    echo "test.sh: installing @aws-sdk/client-sqs into $sqsjs"
    rm -rf "$sqsjs" && mkdir -p "$sqsjs"
    cp crates/cli/tests/compat/sqs-js/package.json crates/cli/tests/compat/sqs-js/package-lock.json "$sqsjs/"
    (cd "$sqsjs" && npm ci --no-audit --no-fund --silent)
fi

# The web frameworks the function URL tests deploy behind their Lambda adapters (FastAPI with
# Mangum, Express with serverless-http), every package pinned, vendored into function zips at
# test time as users vendor them (reinstalled when a pin changes).
web="$PWD/.web-test"
webpins=crates/cli/tests/compat/web
if ! cmp -s "$webpins/requirements.txt" "$web/requirements.txt" \
    || ! cmp -s "$webpins/package-lock.json" "$web/package-lock.json" \
    || [ ! -d "$web/python/mangum" ] || [ ! -d "$web/node_modules/serverless-http" ]; then
    echo "test.sh: installing FastAPI, Mangum, Express and serverless-http into $web"
    rm -rf "$web" && mkdir -p "$web"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --target "$web/python" \
        -r "$webpins/requirements.txt"
    cp "$webpins/package.json" "$webpins/package-lock.json" "$web/"
    (cd "$web" && npm ci --omit=dev --no-audit --no-fund --silent)
    cp "$webpins/requirements.txt" "$web/"
fi

export NIMBUS_TEST_WEB="$web"
export NIMBUS_TEST_SQS_JS="$sqsjs"
export NIMBUS_TEST_AWS=/usr/bin/aws
export NIMBUS_TEST_SDK_DIR="$sdk"
export NIMBUS_TEST_RIC_PACKAGE="$venv/ric-package"
export NIMBUS_TEST_PYTHON="$venv/bin/python"
# The tests start their own servers on 127.0.0.1:0; keep the AWS CLI from reading a user's setup.
export AWS_CONFIG_FILE=/dev/null
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY || true

status=0
cargo test --workspace --locked "$@" || status=$?

# The sandbox escape tests again with egress on (network.egress = "nat"), in a network
# namespace of their own: its bridge, veths and firewall never touch the machine's.
ns="nimbus-test-nat-$$"
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip -n "$ns" link set lo up
echo "test.sh: the isolation tests again, with egress on, in network namespace $ns"
NIMBUS_TEST_EGRESS=nat nsenter --net="/var/run/netns/$ns" \
    cargo test --locked -p nimbus-cli --test isolation "$@" || status=$?
exit "$status"
