# Helpers the benchmark scripts share; sourced, with $root (the repository) set by the caller,
# and for the world's helpers $api (the simulator), $gate (the gate's admin listener), $work
# (the scratch folder) and $sim_pid / $gate_pid.

# Exits unless every TOOL named is on the PATH.
needs() { # TOOL...
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
  done
}

# The short commit before the one that added PATH: a bench's default baseline.
before_added() { # PATH
  local added
  added=$(git -C "$root" log --diff-filter=A --format=%H -- "$1" | tail -1)
  git -C "$root" rev-parse --short "$added~1"
}

# Release builds of the working tree and of REV in one target directory (so only prgate
# itself compiles twice), each ARTIFACT (a path under release/) copied to BIN as
# <name>-after and <name>-before at once, since both builds write the same path. Skipped
# with SKIP_BUILD=1. CARGO (default cargo) and TARGET (the target directory) as the caller's.
build_before_after() { # REV BIN "CARGO_ARGS" ARTIFACT...
  local rev=$1 bin=$2 args=$3 src artifact
  shift 3
  mkdir -p "$bin"
  [ "${SKIP_BUILD:-}" = 1 ] && return 0
  # shellcheck disable=SC2086 # the cargo arguments are words
  ${CARGO:-cargo} build --release --quiet $args --manifest-path "$root/Cargo.toml"
  for artifact in "$@"; do cp "$TARGET/release/$artifact" "$bin/$(basename "$artifact")-after"; done
  src=$(mktemp -d)
  git -C "$root" archive --format=tar --prefix=before/ "$rev" | tar -x -C "$src"
  # shellcheck disable=SC2086
  ${CARGO:-cargo} build --release --quiet $args --manifest-path "$src/before/Cargo.toml" --target-dir "$TARGET"
  for artifact in "$@"; do cp "$TARGET/release/$artifact" "$bin/$(basename "$artifact")-before"; done
  rm -rf "$src"
}

# Stops the gate and the simulator of the world in hand.
stop() {
  local pid
  for pid in $gate_pid $sim_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  gate_pid=
  sim_pid=
  return 0
}
# On exit: stop, and remove the scratch folder unless KEEP=1.
cleanup() {
  stop
  if [ "${KEEP:-}" = 1 ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
}

now() { date +%s.%N; }
secs() { printf '%.2f' "$(echo "$2 - $1" | bc -l)"; }

# The simulator's count of API requests (`/_sim` and git excluded).
sim_calls() { curl -fsS "$api/_sim/stats" | jq .api_calls; }

# Waits until no webhook delivery is pending and the API count has not moved for QUIET
# seconds (default 2): the gate and its executor are done with what happened.
wait_quiet() {
  local quiet=${1:-2} last=-1 since stats pending calls deadline
  since=$(now)
  deadline=$(echo "$since + 180" | bc)
  while :; do
    stats=$(curl -fsS "$api/_sim/stats")
    pending=$(jq .deliveries_pending <<<"$stats")
    calls=$(jq .api_calls <<<"$stats")
    if [ "$pending" != 0 ] || [ "$calls" != "$last" ]; then
      last=$calls
      since=$(now)
    elif [ "$(echo "$(now) - $since >= $quiet" | bc)" = 1 ]; then
      return 0
    fi
    [ "$(echo "$(now) > $deadline" | bc)" = 1 ] && { echo "the world never went quiet" >&2; return 1; }
    sleep 0.1
  done
}

# The gate's code host calls by method and endpoint (`prgate_github_api_calls_total`, summed
# over statuses), as "METHOD endpoint count" lines.
gate_calls() {
  curl -fsS "$gate/metrics" |
    sed -n 's/^prgate_github_api_calls_total{method="\([^"]*\)",endpoint="\([^"]*\)",status="[^"]*"} \([0-9]*\)$/\1 \2 \3/p' |
    awk '{ n[$1 " " $2] += $3 } END { for (k in n) print k, n[k] }' | sort
}
# What changed between two gate_calls snapshots, as "count METHOD endpoint", and the total.
calls_delta() {
  awk 'NR == FNR { b[$1 " " $2] = $3; next } { d = $3 - b[$1 " " $2]; if (d > 0) { print "    " d, $1, $2; t += d } }
       END { print "    total", t + 0 }' "$1" "$2"
}

api_as() { # TOKEN METHOD PATH [BODY]
  local args=(-fsS -X "$2" -H "Authorization: Bearer $1" -H "Accept: application/vnd.github+json" "$api$3")
  [ $# -ge 4 ] && args+=(-d "$4")
  curl "${args[@]}"
}

git_as() { # TOKEN DIR ARGS...: git authenticated as the account of TOKEN (a Basic password)
  local token=$1 dir=$2
  shift 2
  git -C "$dir" -c "http.extraHeader=Authorization: Basic $(printf 'x-access-token:%s' "$token" | base64 -w0)" "$@"
}
commit_as() { # LOGIN DIR MESSAGE
  local email="$1@users.noreply.github.com"
  GIT_AUTHOR_NAME=$1 GIT_AUTHOR_EMAIL=$email GIT_COMMITTER_NAME=$1 GIT_COMMITTER_EMAIL=$email \
    git -C "$2" commit -q -m "$3"
}

