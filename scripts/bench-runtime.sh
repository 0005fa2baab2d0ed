#!/usr/bin/env bash
# The gate's runtime against a code host with a real round trip, before and after in one run:
# `prgate sim --latency 100ms` (this tree's simulator for both, since the baseline had no
# --latency), one `prgate serve` at a time (release builds of BEFORE_REV and of the working
# tree), merge = "auto" and a firewall executor. For each binary, in a fresh world:
#
#   1. OPEN proposals (an agent's branches, already pushed) opened at once through the API:
#      seconds until every head shows `prgate/approval` = pending;
#   2. APPROVE designated approvals (alice) given at once: seconds until all are merged (merge
#      commits on main, read from the simulator's repository on disk, no API call) and until
#      all are executed (the executor's runs log); calls per approved PR;
#   3. a push to main that does not touch the policy (README.md, governed by no rule): API
#      calls it costs (the simulator's `/_sim/stats`; the script itself calls nothing then);
#   4. one approval in a repository with merge = "manual": calls for the decision alone.
#
# Calls are the simulator's count (every API request, 304s included) minus the script's own
# requests; the gate's own /metrics breakdown by endpoint is printed beside. Then, unless
# INGEST=0, ingestion against the Node.js peer: scripts/compare.sh with the webhook_sink
# binaries built here (SKIP_BUILD=1).
#
#   scripts/bench-runtime.sh [BEFORE_REV] [ROUNDS=1]
# BEFORE_REV defaults to the parent of the commit that introduced src/gate/pool.rs (the
# runtime with one serial worker). Environment: CARGO_TARGET_DIR (default target), CARGO
# (default cargo; e.g. "flock /tmp/cargo.lock cargo"), SKIP_BUILD=1 (reuse the binaries under
# $CARGO_TARGET_DIR/bench-bin), LATENCY (100ms), OPEN (40), APPROVE (20), SIM_PORT (8093), GATE_PORT
# (8094), WHICH ("before after"), INGEST (1), INGEST_ARGS ("15s 32 2 3": duration, connections, threads, rounds),
# KEEP=1 (keep the worlds and the logs; their folder is printed).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"
before_rev=${1:-$(before_added src/gate/pool.rs)}
rounds=${2:-1}
TARGET=${CARGO_TARGET_DIR:-$root/target}
bin=$TARGET/bench-bin
latency=${LATENCY:-100ms}
open_n=${OPEN:-40}
approve_n=${APPROVE:-20}
sim_port=${SIM_PORT:-8093}
gate_port=${GATE_PORT:-8094}
api=http://127.0.0.1:$sim_port
gate=http://127.0.0.1:$gate_port

needs git curl jq bc
[ "$approve_n" -le "$open_n" ] || { echo "APPROVE must not exceed OPEN" >&2; exit 2; }

build_before_after "$before_rev" "$bin" "--bin prgate --example webhook_sink" prgate examples/webhook_sink

work=$(mktemp -d)
sim_pid=
gate_pid=

# now, secs, sim_calls, wait_quiet, gate_calls, calls_delta, api_as, git_as, commit_as from
# bench-lib.sh.
trap cleanup EXIT

write_world() { # DIR: seed, policies, gate config
  local dir=$1
  cat >"$dir/seed.toml" <<'EOF'
[[users]]
login = "prgate"
token = "bench-prgate-token"

[[users]]
login = "root"
token = "bench-root-token"

[[users]]
login = "alice"
token = "bench-alice-token"

[[users]]
login = "ops-agent[bot]"
type = "Bot"
token = "bench-agent-token"

[[teams]]
org = "acme"
slug = "netops"
members = ["alice"]

[[repos]]
name = "acme/infra"
default_branch = "main"
admins = ["root"]
writers = ["prgate", "ops-agent[bot]", "alice"]
required_contexts = ["prgate/approval"]
enforce_admins = false

[[repos]]
name = "acme/manual"
default_branch = "main"
admins = ["root"]
writers = ["prgate", "ops-agent[bot]", "alice"]
required_contexts = ["prgate/approval"]
enforce_admins = false
EOF
  # No [defaults]: README.md is governed by no rule, so a push of it is "unrelated".
  cat >"$dir/policy-infra.toml" <<'EOF'
version = 1
expire_after = "72h"
merge = "auto"

[identities]
agents = ["ops-agent[bot]"]

[[rules]]
name = "firewall"
paths = ["firewall/**"]
approvers = { users = ["alice"], teams = ["acme/netops"] }
min_approvals = 1
executor = "firewall"

[[rules]]
name = "policy"
paths = [".github/prgate.toml"]
approvers = { teams = ["acme/netops"] }
min_approvals = 1
EOF
  sed 's/merge = "auto"/merge = "manual"/; s/executor = "firewall"//' "$dir/policy-infra.toml" \
    >"$dir/policy-manual.toml"
  cat >"$dir/apply-firewall.sh" <<'EOF'
#!/bin/sh
set -e
mkdir -p "$PROD_DIR"
cp firewall/rules.toml "$PROD_DIR/rules.toml"
echo "$PRGATE_MERGE_SHA" >> "$PROD_DIR/runs.log"
EOF
  # Only keys both the baseline and this tree know (no [runtime]: its defaults).
  cat >"$dir/prgate.toml" <<EOF
listen = "127.0.0.1:$gate_port"
data_dir = "${DATA_DIR:-$dir/gate}"
webhook_secrets = ["env:BENCH_WEBHOOK_SECRET"]
reconcile_interval = "1h"

[github]
api_url = "$api"
token = "env:BENCH_PRGATE_TOKEN"

[[repos]]
name = "acme/infra"
branches = ["main"]

[[repos]]
name = "acme/manual"
branches = ["main"]

[executors.firewall]
command = ["sh", "scripts/apply-firewall.sh"]
program_paths = ["scripts/apply-firewall.sh"]
timeout = "1m"
env = { PROD_DIR = "env:BENCH_PROD_DIR" }
repos = ["acme/infra"]
sandbox = { write = ["$dir/prod"] }
EOF
}

# Pushes main of REPO (policy, rules, the executor's script) as root, and NAMES branches of
# the agent's, each adding its own file under PREFIX (so that no two merges conflict).
seed_repo() { # REPO POLICY PREFIX BRANCHES
  local repo=$1 policy=$2 prefix=$3 n=$4 clone="$world/clone-${1#*/}" i
  git init -q -b main "$clone"
  git -C "$clone" remote add origin "$api/$repo.git"
  mkdir -p "$clone/.github" "$clone/firewall" "$clone/scripts" "$clone/docs"
  cp "$policy" "$clone/.github/prgate.toml"
  cp "$world/apply-firewall.sh" "$clone/scripts/apply-firewall.sh"
  echo 'allow = [22]' >"$clone/firewall/rules.toml"
  echo 'infra' >"$clone/README.md"
  echo 'docs' >"$clone/docs/index.md"
  git -C "$clone" add -A
  commit_as root "$clone" initial
  git_as bench-root-token "$clone" push -q origin main
  local refs=()
  for i in $(seq "$n"); do
    git -C "$clone" checkout -q -B "bench-$i" main
    echo "allow = [$((1000 + i))]" >"$clone/$prefix-$i.toml"
    git -C "$clone" add -A
    commit_as 'ops-agent[bot]' "$clone" "proposal $i"
    refs+=("bench-$i")
  done
  git -C "$clone" checkout -q main
  git_as bench-agent-token "$clone" push -q origin "${refs[@]}"
}

# Heads of the PRs whose `prgate/approval` is pending, among the SHAs in $work/heads.
count_pending() {
  local args=() i=0 sha
  rm -rf "$world/st" && mkdir -p "$world/st"
  while read -r sha; do
    i=$((i + 1))
    args+=(-o "$world/st/$i.json" "$api/repos/acme/infra/commits/$sha/statuses")
  done <"$world/heads"
  curl -sS --no-progress-meter -Z --parallel-max 64 -H "Authorization: Bearer bench-root-token" "${args[@]}"
  jq -n '[inputs | (map(select(.context == "prgate/approval"))[0].state // "none")] |
    map(select(. == "pending")) | length' "$world"/st/*.json
}

merges() { git --git-dir "$world/sim/acme/infra.git" rev-list --merges --count main; }
runs() { if [ -f "$world/prod/runs.log" ]; then wc -l <"$world/prod/runs.log"; else echo 0; fi; }

# One world, one gate binary; prints its figures as "which key value" lines on fd 3.
bench() {
  local which=$1 t0 t1 t2 t3 t4 c0 c1 n
  world=$work/$which-$RANDOM
  mkdir -p "$world/prod"
  write_world "$world"
  "$bin/prgate-after" sim --listen "127.0.0.1:$sim_port" --state "$world/seed.toml" \
    --data "$world/sim" --latency "$latency" >"$world/sim.out" 2>"$world/sim.log" &
  sim_pid=$!
  for _ in $(seq 100); do grep -q api_url "$world/sim.out" 2>/dev/null && break; sleep 0.1; done
  grep -q api_url "$world/sim.out" || { echo "the simulator did not start" >&2; cat "$world/sim.log" >&2; exit 1; }

  seed_repo acme/infra "$world/policy-infra.toml" firewall/pr "$open_n"
  seed_repo acme/manual "$world/policy-manual.toml" firewall/pr 1
  for i in $(seq "$open_n"); do git --git-dir "$world/sim/acme/infra.git" rev-parse "bench-$i"; done >"$world/heads"

  (cd "$world" && BENCH_WEBHOOK_SECRET=bench-secret BENCH_PRGATE_TOKEN=bench-prgate-token \
    BENCH_PROD_DIR="$world/prod" PRGATE_LOG=${PRGATE_LOG:-info} \
    exec "$bin/prgate-$which" serve --config prgate.toml) 2>"$world/gate.log" &
  gate_pid=$!
  for _ in $(seq 200); do curl -fsS "$gate/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "$gate/readyz" >/dev/null || { echo "the gate did not get ready" >&2; tail "$world/gate.log" >&2; exit 1; }
  curl -fsS -X POST "$api/_sim/hooks" -d "{\"url\": \"$gate/webhook\", \"secret\": \"bench-secret\"}" >/dev/null
  wait_quiet 1

  # 1. OPEN proposals at once.
  t0=$(now)
  seq "$open_n" | xargs -P "$open_n" -I{} curl -fsS -o /dev/null -X POST \
    -H "Authorization: Bearer bench-agent-token" -H "Accept: application/vnd.github+json" \
    -d '{"title": "proposal {}", "head": "bench-{}", "base": "main", "body": "proposed"}' \
    "$api/repos/acme/infra/pulls"
  t1=$(now)
  while n=$(count_pending) && [ "$n" -lt "$open_n" ]; do
    [ "$(secs "$t0" "$(now)" | cut -d. -f1)" -lt 300 ] || { echo "only $n of $open_n pending after 300 s" >&2; exit 1; }
  done
  t2=$(now)
  echo "$which opened_s $(secs "$t0" "$t1")" >&3
  echo "$which all_pending_s $(secs "$t0" "$t2")" >&3
  wait_quiet 2

  # 2. APPROVE approvals at once.
  gate_calls >"$world/calls-0"
  c0=$(sim_calls)
  t0=$(now)
  seq "$approve_n" | xargs -P "$approve_n" -I{} curl -fsS -o /dev/null -X POST \
    -H "Authorization: Bearer bench-alice-token" -H "Accept: application/vnd.github+json" \
    -d '{"event": "APPROVE", "body": "approved"}' "$api/repos/acme/infra/pulls/{}/reviews"
  t1=$(now)
  while [ "$(merges)" -lt "$approve_n" ]; do
    [ "$(secs "$t0" "$(now)" | cut -d. -f1)" -lt 300 ] || { echo "only $(merges) merged after 300 s" >&2; exit 1; }
    sleep 0.05
  done
  t2=$(now)
  while [ "$(runs)" -lt "$approve_n" ]; do
    [ "$(secs "$t0" "$(now)" | cut -d. -f1)" -lt 300 ] || { echo "only $(runs) executed after 300 s" >&2; exit 1; }
    sleep 0.05
  done
  t3=$(now)
  wait_quiet 2
  c1=$(sim_calls)
  gate_calls >"$world/calls-1"
  echo "$which approvals_sent_s $(secs "$t0" "$t1")" >&3
  echo "$which all_merged_s $(secs "$t0" "$t2")" >&3
  echo "$which all_executed_s $(secs "$t0" "$t3")" >&3
  echo "$which calls_per_approved_pr $(echo "scale=1; ($c1 - $c0 - $approve_n) / $approve_n" | bc)" >&3
  echo "$which: gate calls for $approve_n approvals (decide, merge, execute):"
  calls_delta "$world/calls-0" "$world/calls-1"

  # 3. A push to main that does not touch the policy.
  c0=$(sim_calls)
  gate_calls >"$world/calls-2"
  git_as bench-root-token "$world/clone-infra" pull -q --ff-only origin main
  echo unrelated >>"$world/clone-infra/README.md"
  git -C "$world/clone-infra" add README.md
  commit_as root "$world/clone-infra" "docs: unrelated"
  git_as bench-root-token "$world/clone-infra" push -q origin main
  wait_quiet 3
  c1=$(sim_calls)
  gate_calls >"$world/calls-3"
  echo "$which unrelated_push_calls $((c1 - c0))" >&3
  echo "$which: gate calls for a push to main that does not touch the policy:"
  calls_delta "$world/calls-2" "$world/calls-3"

  # 4. One approval with merge = "manual": the decision alone.
  n=$(api_as bench-agent-token POST /repos/acme/manual/pulls \
    '{"title": "docs", "head": "bench-1", "base": "main", "body": "proposed"}' | jq .number)
  wait_quiet 2
  c0=$(sim_calls)
  gate_calls >"$world/calls-4"
  api_as bench-alice-token POST "/repos/acme/manual/pulls/$n/reviews" '{"event": "APPROVE", "body": "ok"}' >/dev/null
  wait_quiet 2
  c1=$(sim_calls)
  gate_calls >"$world/calls-5"
  local head state
  head=$(api_as bench-root-token GET "/repos/acme/manual/pulls/$n" | jq -r .head.sha)
  state=$(api_as bench-root-token GET "/repos/acme/manual/commits/$head/statuses" |
    jq -r 'map(select(.context == "prgate/approval"))[0].state')
  [ "$state" = success ] || { echo "$which: the manual PR is $state, not success" >&2; exit 1; }
  echo "$which decision_calls $((c1 - c0 - 1))" >&3
  echo "$which decision_calls_without_comment $(calls_delta "$world/calls-4" "$world/calls-5" |
    awk '$3 ~ /comments/ { c += $1 } $1 == "total" { t = $2 } END { print t - c }')" >&3
  echo "$which: gate calls for one approval decision (merge = manual):"
  calls_delta "$world/calls-4" "$world/calls-5"
  stop
}

echo "latency $latency, $open_n proposals, $approve_n approvals; before = $before_rev, after = working tree"
echo "$(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/^Mem/ {print $2}') GB RAM"
for round in $(seq "$rounds"); do
  for which in ${WHICH:-before after}; do
    echo "== round $round: $which"
    bench "$which" 3>>"$work/figures"
    grep "^$which " "$work/figures" | tail -9 | sed 's/^/  /'
  done
done

echo
echo "medians over $rounds round(s):"
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '%-32s %10s %10s %8s\n' figure before after ratio
for key in opened_s all_pending_s approvals_sent_s all_merged_s all_executed_s calls_per_approved_pr \
  unrelated_push_calls decision_calls decision_calls_without_comment; do
  b=$(awk -v k="$key" '$1 == "before" && $2 == k {print $3}' "$work/figures" | median)
  a=$(awk -v k="$key" '$1 == "after" && $2 == k {print $3}' "$work/figures" | median)
  ratio=$(if [ "$(echo "$a > 0" | bc)" = 1 ]; then printf '%.1f' "$(echo "$b / $a" | bc -l)"; else echo -; fi)
  printf '%-32s %10s %10s %8s\n' "$key" "$b" "$a" "$ratio"
done

if [ "${INGEST:-1}" = 1 ]; then
  echo
  echo "== ingestion (scripts/compare.sh $before_rev ${INGEST_ARGS:-15s 32 2 3})"
  # shellcheck disable=SC2086
  SKIP_BUILD=1 CARGO_TARGET_DIR=$TARGET "$root/scripts/compare.sh" "$before_rev" ${INGEST_ARGS:-15s 32 2 3}
fi
