#!/usr/bin/env bash
# Ingestion throughput, before and after in one run, against the Node.js peer: builds
# examples/webhook_sink (release) at BEFORE_REV and from the working tree, installs
# @octokit/webhooks-methods under target/npm for scripts/node_peer.mjs (verify + JSON.parse,
# nothing persisted), then drives each server in turn with wrk and scripts/load.lua (signed
# ~25 KB pull_request_review deliveries, a unique X-GitHub-Delivery each), ROUNDS times in
# alternation so that a noisy neighbour hurts all three alike. Prints one line per run and the
# median of each. The sinks fsync every delivery before answering 202 (group commit).
#
#   scripts/compare.sh [BEFORE_REV=main] [DURATION=15s] [CONNECTIONS=32] [THREADS=2] [ROUNDS=3]
# Environment: CARGO_TARGET_DIR (default target), CARGO (default cargo; e.g.
# "flock /tmp/cargo.lock cargo" on a shared machine), PORT (default 8089), SKIP_BUILD=1 to reuse
# the binaries of an earlier run under $CARGO_TARGET_DIR/bench-bin.
set -euo pipefail

before_rev=${1:-main}
duration=${2:-15s}
connections=${3:-32}
threads=${4:-2}
rounds=${5:-3}
port=${PORT:-8089}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"
TARGET=${CARGO_TARGET_DIR:-$root/target}
bin=$TARGET/bench-bin
npm_dir=$TARGET/npm

needs wrk node npm curl bc

build_before_after "$before_rev" "$bin" "--example webhook_sink" examples/webhook_sink
if [ ! -f "$npm_dir/node_modules/@octokit/webhooks-methods/package.json" ]; then
  npm install --no-save --no-audit --no-fund --prefix "$npm_dir" @octokit/webhooks-methods >/dev/null
fi
# ES modules resolve packages next to the importing file.
cp "$root/scripts/node_peer.mjs" "$npm_dir/node_peer.mjs"

work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
signature=$("$bin/webhook_sink-after" --write-body "$work/body.json" --secret load-secret)

accepted() {
  case $1 in
    node) curl -fsS "http://127.0.0.1:$port/accepted" ;;
    *) curl -fsS "http://127.0.0.1:$port/metrics" |
      awk '/^prgate_webhook_deliveries_total\{event="pull_request_review",outcome="accepted"\}/ {print $2}' |
      { read -r n || true; echo "${n:-0}"; } ;;
  esac
}

# One run: start the server, load it, print "<which> <accepted/s> <p50> <p99> <p99.9> <non2xx>
# <peak RSS kB>", stop it.
run() {
  local which=$1 data
  data=$(mktemp -d -p "$work")
  case $which in
    node) (cd "$npm_dir" && exec node node_peer.mjs "$port" load-secret) >"$work/server.log" 2>&1 & ;;
    *) "$bin/webhook_sink-$which" --listen "127.0.0.1:$port" --secret load-secret --data "$data" \
      >"$work/server.log" 2>&1 & ;;
  esac
  pid=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  local before after start end line
  before=$(accepted "$which")
  start=$(date +%s.%N)
  line=$(LOAD_BODY="$work/body.json" LOAD_SIGNATURE="$signature" LOAD_RUN="$which$RANDOM" \
    wrk -t"$threads" -c"$connections" -d"$duration" --timeout 10s -s "$root/scripts/load.lua" \
    "http://127.0.0.1:$port/webhook" | grep '^LOAD')
  end=$(date +%s.%N)
  after=$(accepted "$which")
  local hwm
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
  rm -rf "$data"
  field() { echo "$line" | grep -o "$1=[^ ]*" | cut -d= -f2; }
  printf '%-7s %8.0f %7s %7s %7s %5s %8s\n' "$which" \
    "$(echo "($after - $before) / ($end - $start)" | bc -l)" \
    "$(field p50_ms)" "$(field p99_ms)" "$(field p999_ms)" "$(field non2xx)" "$hwm"
}

echo "wrk -t$threads -c$connections -d$duration, body $(stat -c %s "$work/body.json") bytes, $rounds rounds"
echo "before = $before_rev, after = working tree, node = $(node --version) + @octokit/webhooks-methods"
printf '%-7s %8s %7s %7s %7s %5s %8s\n' server accept/s p50_ms p99_ms p999_ms non2xx rss_kB
for _ in $(seq "$rounds"); do
  for which in before after node; do
    run "$which" | tee -a "$work/runs"
  done
done

echo
echo "medians:"
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for which in before after node; do
  rate=$(awk -v w="$which" '$1 == w {print $2}' "$work/runs" | median)
  p99=$(awk -v w="$which" '$1 == w {print $4}' "$work/runs" | median)
  rss=$(awk -v w="$which" '$1 == w {print $7}' "$work/runs" | median)
  printf '%-7s %8.0f accepted/s  p99 %s ms  peak RSS %s kB\n' "$which" "$rate" "$p99" "$rss"
  eval "rate_$which=$rate"
done
printf 'before / node = %.2f   after / node = %.2f   after / before = %.2f\n' \
  "$(echo "$rate_before / $rate_node" | bc -l)" "$(echo "$rate_after / $rate_node" | bc -l)" \
  "$(echo "$rate_after / $rate_before" | bc -l)"
