#!/usr/bin/env bash
# Prints cold-start, warm-invoke and throughput figures for a Python and a provided function,
# each beside a baseline measured in the same run. Takes about a minute after the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p nimbus-cli --bench invoke
