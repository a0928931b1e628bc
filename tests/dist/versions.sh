#!/usr/bin/env bash
# Every package of rmqproducer has one version: the workspace's in Cargo.toml (which rmq-core,
# rmq-ffi, the C soname and the Python package take), and the copies that cannot derive it: the
# workspace's dependency on rmq-core, the npm package and its lock file, and the newest
# CHANGELOG entry. Fails, naming each, when they disagree. Run by `make lint` and `make dist`.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"

workspace="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
declare -A found=(
  ["Cargo.toml: rmq-core dependency"]="$(sed -n 's/^rmq-core = {.*version = "\([^"]*\)".*/\1/p' Cargo.toml)"
  ["bindings/node/package.json"]="$(node -p "require('./bindings/node/package.json').version")"
  ["bindings/node/package-lock.json"]="$(node -p "require('./bindings/node/package-lock.json').version")"
  ["CHANGELOG.md: newest entry"]="$(sed -n 's/^## \[\([0-9][^]]*\)\].*/\1/p' CHANGELOG.md | head -n 1)"
)
status=0
for where in "${!found[@]}"; do
  if [ "${found[$where]}" != "$workspace" ]; then
    echo "version mismatch: $where has '${found[$where]}', the workspace (Cargo.toml) $workspace" >&2
    status=1
  fi
done
[ "$status" -ne 0 ] || echo "ok      one version, $workspace, in Cargo.toml, package.json, package-lock.json, CHANGELOG.md"
exit "$status"
