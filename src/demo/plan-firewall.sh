#!/bin/sh
set -e
ports() {
  if [ -f "$1" ]; then
    sed -n 's/^allow = \[\(.*\)\]$/\1/p' "$1" | tr -d ' "' | tr ',' '\n' | grep -v '^$' | sort -u
  fi
}
tmp=$(mktemp -d)
ports "$PRODUCTION_DIR/firewall.toml" > "$tmp/live"
ports firewall/rules.toml > "$tmp/wanted"
comm -13 "$tmp/live" "$tmp/wanted" | sed 's|^|open  tcp/|'
comm -23 "$tmp/live" "$tmp/wanted" | sed 's|^|close tcp/|'
if cmp -s "$tmp/live" "$tmp/wanted"; then echo "no change"; fi
rm -rf "$tmp"
