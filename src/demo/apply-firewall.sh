#!/bin/sh
set -e
mkdir -p "$PRODUCTION_DIR"
cp firewall/rules.toml "$PRODUCTION_DIR/firewall.toml"
echo "applied firewall rules of $PRGATE_MERGE_SHA (approved by $PRGATE_APPROVERS)"
