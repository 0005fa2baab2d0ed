#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/fuzz_targets) for SECONDS from the committed seeds
# (fuzz/seeds/<target>) plus GitHub's example deliveries for the webhook target, and prints
# the executions per target. Exit 1 when a target finds a crash (the input is kept under
# fuzz/artifacts/<target>/; make it a regression test).
#
# usage: scripts/fuzz.sh [SECONDS=30] [TARGET...]
#   PRGATE_NPM_DIR   where @octokit/webhooks-examples is installed (default target/npm)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SECONDS_EACH="${1:-30}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(webhook policy trailers note)

command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh: cargo fuzz needs the nightly toolchain (rustup toolchain install nightly)" >&2
    exit 2
fi

# The working corpus grows as the fuzzer finds new paths; it lives under target/, apart from
# the committed seeds.
CORPUS="${CARGO_TARGET_DIR:-$ROOT/target}/fuzz-corpus"
NPM_DIR="${PRGATE_NPM_DIR:-$ROOT/target/npm}"
for t in "${TARGETS[@]}"; do
    mkdir -p "$CORPUS/$t"
done
# GitHub's own example deliveries, as "<event>\n<body>" (the webhook target's input).
EXAMPLES="$NPM_DIR/node_modules/@octokit/webhooks-examples/api.github.com/index.json"
if [ -f "$EXAMPLES" ] && [[ " ${TARGETS[*]} " == *" webhook "* ]]; then
    python3 - "$EXAMPLES" "$CORPUS/webhook" <<'PY'
import json, sys, hashlib, os
examples, out = sys.argv[1], sys.argv[2]
for group in json.load(open(examples)):
    for ex in group.get("examples", []):
        data = (group["name"] + "\n" + json.dumps(ex)).encode()
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
PY
fi

# Built without AddressSanitizer, at opt-level 1 (fuzz/Cargo.toml) and in 16 codegen units:
# the targets are safe Rust, where a bad index or overflow is a panic the fuzzer catches by
# itself, and the build (every dependency of prgate, instrumented) is most of this script's
# time in CI. `run` below must name the same flags, or it builds everything again.
FLAGS=(-O -s none --codegen-units 16)
(cd fuzz && cargo +nightly fuzz build "${FLAGS[@]}" >&2)

status=0
printf '%-10s %12s %10s %s\n' target executions exec/s result
for t in "${TARGETS[@]}"; do
    log="$CORPUS/$t.log"
    # The committed seeds are read too (a folder git holds only when it has files).
    seeds=()
    [ -d "fuzz/seeds/$t" ] && seeds=("seeds/$t")
    if (cd fuzz && cargo +nightly fuzz run "${FLAGS[@]}" "$t" "$CORPUS/$t" "${seeds[@]}" -- \
        -max_total_time="$SECONDS_EACH" -print_final_stats=1 -rss_limit_mb=2048 \
        -timeout=10) >"$log" 2>&1; then
        result=ok
    else
        result="CRASH (see $log and fuzz/artifacts/$t/)"
        status=1
    fi
    # A run that ended early prints no stats: "?" then, not an exit from here.
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    printf '%-10s %12s %10s %s\n' "$t" "${runs:-?}" "${speed:-?}" "$result"
done
exit $status
