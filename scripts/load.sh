#!/usr/bin/env bash
# Load test of the webhook endpoint: starts examples/webhook_sink (real router, durable queue,
# a consumer that completes every delivery), drives it with wrk sending signed ~25 KB
# pull_request_review deliveries with a unique X-GitHub-Delivery each, and reports accepted
# deliveries per second, latency percentiles and the server's peak RSS.
#
#   scripts/load.sh [DURATION=20s] [CONNECTIONS=32] [THREADS=2]
# Environment: CARGO_TARGET_DIR (default target), PORT (default 8089), DATA_DIR (queue
# location; default a temporary directory).
set -euo pipefail

duration=${1:-20s}
connections=${2:-32}
threads=${3:-2}
port=${PORT:-8089}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}

if ! command -v wrk >/dev/null; then
  echo "wrk is not installed; installing it (Debian package wrk)" >&2
  apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

(cd "$root" && cargo build --release --quiet --example webhook_sink)
sink=$target/release/examples/webhook_sink

work=$(mktemp -d)
data=${DATA_DIR:-$work}
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

signature=$("$sink" --write-body "$work/body.json" --secret load-secret)
"$sink" --listen "127.0.0.1:$port" --secret load-secret --data "$data" >"$work/sink.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

accepted() {
  curl -fsS "http://127.0.0.1:$port/metrics" |
    awk '/^prgate_webhook_deliveries_total\{event="pull_request_review",outcome="accepted"\}/ {print $2}' |
    { read -r n || true; echo "${n:-0}"; }
}

before=$(accepted)
start=$(date +%s.%N)
out=$(LOAD_BODY="$work/body.json" LOAD_SIGNATURE="$signature" LOAD_RUN="run$$" \
  wrk -t"$threads" -c"$connections" -d"$duration" --timeout 10s -s "$root/scripts/load.lua" \
  "http://127.0.0.1:$port/webhook")
end=$(date +%s.%N)
after=$(accepted)
sleep 1
# The handler's own time (signature, decode, fsynced enqueue), from its histogram: the upper
# bound of the bucket holding the 99th percentile.
server_p99=$(curl -fsS "http://127.0.0.1:$port/metrics" | awk '
  /^prgate_webhook_seconds_bucket/ { match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); n++; les[n] = le; cum[n] = $2 }
  /^prgate_webhook_seconds_count/ { total = $2 }
  END { for (i = 1; i <= n; i++) if (cum[i] >= 0.99 * total) { printf "%.1f ms", les[i] * 1000; exit } }')
depth=$(curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^prgate_queue_depth / {print $2}')
hwm=$(awk '/^VmHWM/ {print $2, $3}' "/proc/$pid/status")
rss=$(awk '/^VmRSS/ {print $2, $3}' "/proc/$pid/status")

echo "$out" | grep -v '^LOAD'
line=$(echo "$out" | grep '^LOAD')
echo
echo "body bytes:           $(stat -c %s "$work/body.json")"
echo "wrk:                  -t$threads -c$connections -d$duration"
echo "accepted (server):    $((after - before)) in $(echo "$end - $start" | bc) s"
echo "accepted/s:           $(echo "scale=0; ($after - $before) / ($end - $start)" | bc)"
echo "latency:              $(echo "$line" | grep -o 'p50_ms=[^ ]*') $(echo "$line" | grep -o 'p99_ms=[^ ]*') $(echo "$line" | grep -o 'p999_ms=[^ ]*') $(echo "$line" | grep -o 'max_ms=[^ ]*')"
echo "non-2xx / socket errors: $(echo "$line" | grep -o 'non2xx=[^ ]*') $(echo "$line" | grep -o 'errors=[^ ]*')"
echo "handler p99 (server): <= ${server_p99:-?} (bucket bound, whole run)"
echo "queue depth after 1 s: ${depth:-?}"
echo "server peak RSS:      $hwm (now $rss)"
