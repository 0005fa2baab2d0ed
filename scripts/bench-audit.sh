#!/usr/bin/env bash
# Times `prgate audit` against `git log --first-parent --notes=prgate` on the same generated
# history, in the same run. The aim is an audit within 1.2x of git's own walk,
# with and without a commit-graph (move objects/info/commit-graph aside for the second).
#
# usage: scripts/bench-audit.sh [N=100000]
#   BENCH_REPO=DIR   where to build (or reuse) the history; default /tmp/prgate-audit-bench-N
#   RUNS=3           runs of each command
set -euo pipefail

N="${1:-100000}"
RUNS="${RUNS:-3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REPO="${BENCH_REPO:-/tmp/prgate-audit-bench-$N}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

if [ ! -d "$REPO" ]; then
    echo "building a $N-commit history in $REPO" >&2
    python3 "$ROOT/scripts/gen-audit-history.py" "$REPO" "$N" >&2
fi

(cd "$ROOT" && cargo build --release --quiet --bin prgate)
AUDIT=("$TARGET/release/prgate" audit --repo "$REPO" --branch main --format json)
GITLOG=(git -C "$REPO" log --first-parent --notes=prgate --format=%H%n%B main)

# One warm-up of each, so that both read from the page cache; and a check that it is clean.
"${GITLOG[@]}" >/dev/null
"${AUDIT[@]}" >/tmp/prgate-audit-bench.json 2>/dev/null || {
    echo "the audit of the generated history is not clean (exit $?); see /tmp/prgate-audit-bench.json" >&2
    exit 1
}
governed=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["governed_commits"], r["commits_walked"])' /tmp/prgate-audit-bench.json)

best() { # best wall time in seconds of RUNS runs of "$@"
    local best="" t0 t1 t
    for _ in $(seq "$RUNS"); do
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || true
        t1=$(date +%s.%N)
        t=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
    done
    printf '%.3f' "$best"
}

set -- $governed
printf 'N=%s first-parent commits walked=%s governed=%s\n' "$N" "$2" "$1"

measure() { # one line of figures, git log and the audit alternating within best()
    local git_t audit_t
    git_t=$(best "${GITLOG[@]}")
    audit_t=$(best "${AUDIT[@]}")
    printf '%-22s git log %ss, prgate audit %ss, ratio %.2f (aim: <= 1.2; best of %s)\n' \
        "$1:" "$git_t" "$audit_t" "$(echo "$audit_t / $git_t" | bc -l)" "$RUNS"
}

measure "with commit-graph"
# The same history without the commit-graph: set aside, and put back however the script ends.
GRAPH=""
for g in "$REPO/objects/info/commit-graph" "$REPO/objects/info/commit-graphs"; do
    [ -e "$g" ] && GRAPH="$g"
done
if [ -n "$GRAPH" ]; then
    mv "$GRAPH" "$GRAPH.aside"
    trap 'mv "$GRAPH.aside" "$GRAPH"' EXIT
    measure "without commit-graph"
fi
