#!/bin/sh
# Installs GitHub's OpenAPI description (npm package @octokit/openapi) into target/npm, where
# tests/it/sim_openapi.rs looks for it (or set PRGATE_NPM_DIR to another prefix).
set -eu
prefix="${PRGATE_NPM_DIR:-$(dirname "$0")/../target/npm}"
mkdir -p "$prefix"
npm install --no-save --no-audit --no-fund --prefix "$prefix" @octokit/openapi
