#!/usr/bin/env bash
# Runs each fuzz target under fuzz/ for a bounded time: `scripts/fuzz.sh [SECONDS] [TARGET...]`
# (default 600 s each; targets sigv4, function_name, unzip). Not part of CI. Needs the nightly
# toolchain (rustup) and cargo-fuzz, which it installs from crates.io when missing. Each
# target's corpus lives in fuzz/corpus/<target> and grows as the fuzzer finds new paths; a
# crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sigv4 function_name unzip)

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzzing needs the nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    log="$(mktemp -t "fuzz-$t.XXXX.log")"
    echo "== $t: ${seconds}s (log: $log)"
    # One job on one core; a 2 GiB memory cap per input run.
    if cargo +nightly fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 >"$log" 2>&1; then
        # libFuzzer's last status line: runs, coverage, corpus size, execs/s.
        grep -E '^#[0-9]+' "$log" | tail -1
        grep -E 'Done [0-9]+ runs' "$log" | tail -1
        echo "corpus: $(find "corpus/$t" -type f | wc -l) inputs, $(du -sh "corpus/$t" | cut -f1)"
    else
        echo "!! $t failed:"
        grep -E 'panicked|ERROR|SUMMARY|artifact' "$log" | head -20
        status=1
    fi
done
exit $status
