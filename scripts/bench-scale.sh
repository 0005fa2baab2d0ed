#!/usr/bin/env bash
# The gate at an organisation's scale, before and after in one run: OPEN (1,000) open PRs over
# REPOS (10) repositories of two owners, prgate as a GitHub App installed on both (each
# installation its own budgets), behind `prgate sim --latency 100ms`. For each binary (release
# builds of BEFORE_REV and of the working tree; this tree's simulator for both), in a fresh
# world:
#
#   1. the PRs opened at once; the gate decides them all (seconds until quiet);
#   2. idle passes (reconcile_interval = INTERVAL): API calls and GraphQL points per pass, as
#      the simulator counts them (every request, 304s included; points as GitHub computes a
#      query's cost), and what that makes per hour at the default 5-minute interval;
#   3. APPROVE (20) approvals at once in the first repository: seconds until all are merged;
#   4. one PR's whole life in a quiet repository (open, decide, approve, merge, execute, and
#      the passes after): its calls;
#   5. the peak resident memory of `serve` (VmHWM).
#
#   scripts/bench-scale.sh [BEFORE_REV]
# BEFORE_REV defaults to the parent of the commit that introduced src/gate/due.rs (passes that
# re-evaluated every open PR). Environment: CARGO_TARGET_DIR, CARGO, SKIP_BUILD=1, LATENCY
# (100ms), OPEN (1000), REPOS (10), APPROVE (20), INTERVAL (60s), PASSES (3), SIM_PORT (8095),
# GATE_PORT (8096), ADMIN_PORT (8097), WHICH ("before after"), KEEP=1.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"
before_rev=${1:-$(before_added src/gate/due.rs)}
TARGET=${CARGO_TARGET_DIR:-$root/target}
bin=$TARGET/bench-bin
latency=${LATENCY:-100ms}
open_n=${OPEN:-1000}
repos_n=${REPOS:-10}
approve_n=${APPROVE:-20}
interval=${INTERVAL:-60s}
passes=${PASSES:-3}
sim_port=${SIM_PORT:-8095}
gate_port=${GATE_PORT:-8096}
admin_port=${ADMIN_PORT:-8097}
api=http://127.0.0.1:$sim_port
gate=http://127.0.0.1:$admin_port
per_repo=$((open_n / repos_n))

needs git curl jq bc
[ "$approve_n" -le "$per_repo" ] || { echo "APPROVE must not exceed OPEN / REPOS" >&2; exit 2; }

build_before_after "$before_rev" "$bin" "--bin prgate" prgate

work=$(mktemp -d)
sim_pid=
gate_pid=

trap cleanup EXIT

# The repositories: acme/r0 .. and globex/r.. (half each).
repo_name() { if [ "$1" -lt $((repos_n / 2)) ]; then echo "acme/r$1"; else echo "globex/r$1"; fi; }

write_world() { # DIR
  local dir=$1 i
  {
    # A budget far past GitHub's, so that nothing waits: the figures are what was spent.
    echo 'rate_limit = 100000000'
    printf '[[users]]\nlogin = "%s"\ntoken = "%s"\n\n' root bench-root-token alice bench-alice-token
    printf '[[users]]\nlogin = "ops-agent[bot]"\ntype = "Bot"\ntoken = "bench-agent-token"\n\n'
    for i in $(seq 0 $((repos_n - 1))); do
      printf '[[repos]]\nname = "%s"\nadmins = ["root"]\nwriters = ["ops-agent[bot]", "alice"]\nrequired_contexts = ["prgate/approval"]\n\n' "$(repo_name "$i")"
    done
    printf '[[apps]]\nid = 4242\nslug = "prgate"\npublic_key = """\n%s"""\ninstallations = [{ id = 7, account = "acme" }, { id = 8, account = "globex" }]\n' \
      "$(cat "$root/tests/fixtures/test-app.pub.pem")"
  } >"$dir/seed.toml"
  cat >"$dir/policy.toml" <<'EOF'
version = 1
expire_after = "72h"
merge = "auto"

[identities]
agents = ["ops-agent[bot]"]

[[rules]]
name = "firewall"
paths = ["firewall/**"]
approvers = { users = ["alice"] }
min_approvals = 1
executor = "firewall"
EOF
  cat >"$dir/apply-firewall.sh" <<'EOF'
#!/bin/sh
set -e
mkdir -p "$PROD_DIR"
echo "$PRGATE_MERGE_SHA" >> "$PROD_DIR/runs.log"
EOF
  {
    cat <<EOF
listen = "127.0.0.1:$gate_port"
admin_listen = "127.0.0.1:$admin_port"
data_dir = "$dir/gate"
webhook_secrets = ["env:BENCH_WEBHOOK_SECRET"]
reconcile_interval = "$interval"

[github]
api_url = "$api"
app_id = 4242
private_key = "file:$root/tests/fixtures/test-app.pem"

[executors.firewall]
command = ["sh", "scripts/apply-firewall.sh"]
program_paths = ["scripts/apply-firewall.sh"]
timeout = "1m"
env = { PROD_DIR = "env:BENCH_PROD_DIR" }
sandbox = { write = ["$dir/prod"] }
EOF
    printf 'repos = ['
    for i in $(seq 0 $((repos_n - 1))); do printf '"%s", ' "$(repo_name "$i")"; done
    printf ']\n\n'
    for i in $(seq 0 $((repos_n - 1))); do
      printf '[[repos]]\nname = "%s"\nbranches = ["main"]\n\n' "$(repo_name "$i")"
    done
  } >"$dir/prgate.toml"
}

# Pushes main of REPO and N branches of the agent's, each adding its own file.
seed_repo() { # REPO N
  local repo=$1 n=$2 clone="$world/clone-${1//\//-}" i refs=()
  git init -q -b main "$clone"
  git -C "$clone" remote add origin "$api/$repo.git"
  mkdir -p "$clone/.github" "$clone/firewall" "$clone/scripts"
  cp "$world/policy.toml" "$clone/.github/prgate.toml"
  cp "$world/apply-firewall.sh" "$clone/scripts/apply-firewall.sh"
  echo 'allow = [22]' >"$clone/firewall/rules.toml"
  git -C "$clone" add -A
  commit_as root "$clone" initial
  git_as bench-root-token "$clone" push -q origin main
  for i in $(seq "$n"); do
    git -C "$clone" checkout -q -B "p-$i" main
    echo "allow = [$((1000 + i))]" >"$clone/firewall/p-$i.toml"
    git -C "$clone" add -A
    commit_as 'ops-agent[bot]' "$clone" "proposal $i"
    refs+=("p-$i")
  done
  git -C "$clone" checkout -q main
  git_as bench-agent-token "$clone" push -q origin "${refs[@]}"
}

open_prs() { # REPO FROM TO
  seq "$2" "$3" | xargs -P 32 -I{} curl -fsS -o /dev/null -X POST \
    -H "Authorization: Bearer bench-agent-token" -H "Accept: application/vnd.github+json" \
    -d '{"title": "proposal {}", "head": "p-{}", "base": "main", "body": "proposed"}' \
    "$api/repos/$1/pulls"
}

merges() { git --git-dir "$world/sim/$1.git" rev-list --merges --count main; }
runs() { if [ -f "$world/prod/runs.log" ]; then wc -l <"$world/prod/runs.log"; else echo 0; fi; }
graphql_points() { curl -fsS "$api/_sim/stats" | jq '[.rate_used | to_entries[] | select(.key | endswith("/graphql")) | .value] | add // 0'; }
passes_done() { curl -fsS "$gate/metrics" | awk '/^prgate_reconcile_passes_total/ { n += $2 } END { print n + 0 }'; }

bench() {
  local which=$1 t0 t1 c0 c1 p0 p1 g0 g1 i first last n
  world=$work/$which-$RANDOM
  mkdir -p "$world/prod"
  write_world "$world"
  "$bin/prgate-after" sim --listen "127.0.0.1:$sim_port" --state "$world/seed.toml" \
    --data "$world/sim" --latency "$latency" >"$world/sim.out" 2>"$world/sim.log" &
  sim_pid=$!
  for _ in $(seq 100); do grep -q api_url "$world/sim.out" 2>/dev/null && break; sleep 0.1; done
  grep -q api_url "$world/sim.out" || { echo "the simulator did not start" >&2; cat "$world/sim.log" >&2; exit 1; }
  # The last repository keeps one branch apart for the whole-life PR.
  for i in $(seq 0 $((repos_n - 1))); do seed_repo "$(repo_name "$i")" $((per_repo + 1)); done

  (cd "$world" && BENCH_WEBHOOK_SECRET=bench-secret BENCH_PROD_DIR="$world/prod" \
    PRGATE_LOG=${PRGATE_LOG:-warn} exec "$bin/prgate-$which" serve --config prgate.toml) 2>"$world/gate.log" &
  gate_pid=$!
  for _ in $(seq 300); do curl -fsS "http://127.0.0.1:$gate_port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "http://127.0.0.1:$gate_port/readyz" >/dev/null || { echo "the gate did not get ready" >&2; tail "$world/gate.log" >&2; exit 1; }
  curl -fsS -X POST "$api/_sim/hooks" -d "{\"url\": \"http://127.0.0.1:$gate_port/webhook\", \"secret\": \"bench-secret\"}" >/dev/null

  # 1. Every PR opened at once.
  t0=$(now)
  local openers=()
  for i in $(seq 0 $((repos_n - 1))); do
    open_prs "$(repo_name "$i")" 1 "$per_repo" &
    openers+=($!)
  done
  wait "${openers[@]}"
  wait_quiet 3
  t1=$(now)
  echo "$which opened_and_decided_s $(secs "$t0" "$t1")" >&3

  # 2. Idle passes: two to settle (a pass posts afresh what changed near its decision), then
  # PASSES measured.
  first=$(passes_done)
  while [ "$(passes_done)" -lt $((first + 2)) ]; do sleep 0.5; done
  wait_quiet 2
  c0=$(sim_calls); g0=$(graphql_points); p0=$(passes_done)
  gate_calls >"$world/calls-0"
  while [ "$(passes_done)" -lt $((p0 + passes)) ]; do sleep 0.5; done
  wait_quiet 2
  c1=$(sim_calls); g1=$(graphql_points); p1=$(passes_done)
  gate_calls >"$world/calls-1"
  echo "$which idle_pass_calls $(echo "scale=1; ($c1 - $c0) / ($p1 - $p0)" | bc)" >&3
  echo "$which idle_pass_calls_per_open_pr $(echo "scale=4; ($c1 - $c0) / ($p1 - $p0) / $open_n" | bc)" >&3
  echo "$which idle_pass_graphql_points $(echo "scale=1; ($g1 - $g0) / ($p1 - $p0)" | bc)" >&3
  echo "$which idle_calls_per_hour_at_5m $(echo "($c1 - $c0) / ($p1 - $p0) * 12" | bc)" >&3
  echo "$which idle_points_per_hour_at_5m $(echo "($g1 - $g0) / ($p1 - $p0) * 12" | bc)" >&3
  echo "$which: gate calls over $((p1 - p0)) idle passes:"
  calls_delta "$world/calls-0" "$world/calls-1"

  # 3. APPROVE approvals at once in the first repository.
  first=$(repo_name 0)
  n=$(merges "$first")
  t0=$(now)
  seq "$approve_n" | xargs -P "$approve_n" -I{} curl -fsS -o /dev/null -X POST \
    -H "Authorization: Bearer bench-alice-token" -H "Accept: application/vnd.github+json" \
    -d '{"event": "APPROVE", "body": "approved"}' "$api/repos/$first/pulls/{}/reviews"
  while [ "$(merges "$first")" -lt $((n + approve_n)) ]; do
    [ "$(secs "$t0" "$(now)" | cut -d. -f1)" -lt 300 ] || { echo "only $(merges "$first") merged after 300 s" >&2; exit 1; }
    sleep 0.05
  done
  t1=$(now)
  echo "$which all_merged_s $(secs "$t0" "$t1")" >&3
  while [ "$(runs)" -lt "$approve_n" ]; do sleep 0.2; done
  wait_quiet 3

  # 4. One PR's whole life in the last repository, with the passes after it.
  last=$(repo_name $((repos_n - 1)))
  n=$(runs)
  c0=$(sim_calls); p0=$(passes_done)
  gate_calls >"$world/calls-2"
  open_prs "$last" $((per_repo + 1)) $((per_repo + 1))
  wait_quiet 3
  # The pass after the decision (what changed near it is posted afresh).
  while [ "$(passes_done)" -lt $((p0 + 2)) ]; do sleep 0.5; done
  api_as bench-alice-token POST "/repos/$last/pulls/$((per_repo + 1))/reviews" '{"event": "APPROVE", "body": "ok"}' >/dev/null
  while [ "$(runs)" -le "$n" ]; do sleep 0.1; done
  wait_quiet 3
  p1=$(passes_done)
  while [ "$(passes_done)" -lt $((p1 + 1)) ]; do sleep 0.5; done
  wait_quiet 2
  c1=$(sim_calls); p1=$(passes_done)
  gate_calls >"$world/calls-3"
  # Less the script's two calls and the passes' own share over every other PR.
  local idle
  idle=$(echo "scale=1; ($(awk '$2 == "idle_pass_calls" && $1 == "'"$which"'" {print $3}' "$work/figures"))" | bc)
  echo "$which pr_life_calls $(echo "scale=1; $c1 - $c0 - 2 - ($p1 - $p0) * $idle" | bc)" >&3
  echo "$which: gate calls for one PR's life (and $((p1 - p0)) passes):"
  calls_delta "$world/calls-2" "$world/calls-3"

  # 5. Peak resident memory.
  echo "$which peak_rss_mb $(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$gate_pid/status")" >&3
  stop
}

echo "latency $latency, $open_n open PRs over $repos_n repositories (2 installations), $approve_n approvals, passes every $interval"
echo "before = $before_rev, after = working tree"
echo "$(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/^Mem/ {print $2}') GB RAM"
touch "$work/figures"
for which in ${WHICH:-before after}; do
  echo "== $which"
  bench "$which" 3>>"$work/figures"
  grep "^$which " "$work/figures" | sed 's/^/  /'
done

echo
printf '%-30s %12s %12s %8s\n' figure before after ratio
for key in opened_and_decided_s idle_pass_calls idle_pass_calls_per_open_pr idle_pass_graphql_points \
  idle_calls_per_hour_at_5m idle_points_per_hour_at_5m all_merged_s pr_life_calls peak_rss_mb; do
  b=$(awk -v k="$key" '$1 == "before" && $2 == k {print $3}' "$work/figures")
  a=$(awk -v k="$key" '$1 == "after" && $2 == k {print $3}' "$work/figures")
  ratio=$(if [ -n "$a" ] && [ -n "$b" ] && [ "$(echo "$a > 0" | bc)" = 1 ]; then printf '%.1f' "$(echo "$b / $a" | bc -l)"; else echo -; fi)
  printf '%-30s %12s %12s %8s\n' "$key" "${b:--}" "${a:--}" "$ratio"
done
