#!/usr/bin/env bash
# The delay that agents' hanging plans add to an approved execution: the time from an
# approval to the end of its execution with no other plan running, and with HANGING (4) agent
# PRs whose plans hang (more than the plan pool's two slots), alternating, ROUNDS (5) each, in
# fresh worlds of the simulator with real git and real plan processes. Prints the medians and
# their ratio.
#
#   scripts/bench-plans.sh            ROUNDS=9 HANGING=8 scripts/bench-plans.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --quiet --test it -- --ignored --nocapture --exact isolation::bench_plan_delay 2>&1 \
  | grep -E "approval|plans|ratio"
