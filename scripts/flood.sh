#!/usr/bin/env bash
# Flood figures for docs/performance.md, before and after in one run: builds `prgate` at
# BEFORE_REV (a git revision) and from the working tree, then runs the measurement of
# tests/it/webhook_flood.rs against each with its default limits: 1,100 idle connections held
# (latency of /healthz and of a signed delivery, files open), then 40 clients sending 24 MiB
# bodies with bad signatures at 4 MiB/s for 8 s (the server's peak RSS, VmHWM). Both servers
# start under a soft limit of 1024 open files, the usual default. Loopback only; ~40 s.
#
#   scripts/flood.sh [BEFORE_REV=main]
# Environment: CARGO_TARGET_DIR (default target), PROFILE (dev or release; default dev).
set -euo pipefail

before_rev=${1:-main}
profile=${PROFILE:-dev}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
out_dir=$target/$([ "$profile" = dev ] && echo debug || echo "$profile")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The old sources build in the same target directory, so only prgate itself is compiled again;
# both builds write $out_dir/prgate, hence each binary is copied away at once.
git -C "$root" archive --format=tar --prefix=before/ "$before_rev" | tar -x -C "$work"
cargo build --quiet --profile "$profile" --bin prgate \
  --manifest-path "$work/before/Cargo.toml" --target-dir "$target"
cp "$out_dir/prgate" "$work/prgate-before"
# Touching main.rs makes cargo write $out_dir/prgate from the working tree again.
touch "$root/src/main.rs"
cargo build --quiet --profile "$profile" --bin prgate --manifest-path "$root/Cargo.toml"
cp "$out_dir/prgate" "$work/prgate-after"

for which in before after; do
  echo "== $which ($([ "$which" = before ] && echo "$before_rev" || echo "working tree"))"
  PRGATE_FLOOD_BIN=$work/prgate-$which \
    cargo test --quiet --profile "$profile" --manifest-path "$root/Cargo.toml" \
    --test it -- --ignored --nocapture --test-threads 1 webhook_flood::report_flood_figures 2>&1 |
    grep -E '^(idle flood|body flood|baseline)'
done
