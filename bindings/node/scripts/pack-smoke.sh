#!/usr/bin/env bash
# Installs the package as a user would: `npm pack`, then `npm install` of the tarball into a fresh
# folder, then the quickstart runs from there against the cluster at NAMESRV_ADDR (brought up
# with tests/cluster/rmq-cluster when unset). With `all` (the default) it also type-checks the
# TypeScript example against the shipped typings; with `quickstart` it only runs the quickstart.
set -euo pipefail

mode=${1:-all}
package_dir=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$package_dir/../.." && pwd)
examples="$repo/examples/node"

if [[ -z "${NAMESRV_ADDR:-}" ]]; then
  NAMESRV_ADDR=$("$repo/tests/cluster/rmq-cluster" up | sed -n 's/^NAMESRV_ADDR=//p')
fi
export NAMESRV_ADDR

work=$(mktemp -d "${TMPDIR:-/tmp}/rmqproducer-pack.XXXXXX")
trap 'rm -rf "$work"' EXIT

tarball=$(cd "$package_dir" && npm pack --silent --pack-destination "$work" | tail -n 1)
cp "$examples/quickstart.js" "$examples/quickstart.mts" "$examples/tsconfig.json" "$work/"
cd "$work"
npm init -y >/dev/null
extra=()
if [[ "$mode" == all ]]; then
  typescript=$(node -p "require('$package_dir/package.json').devDependencies.typescript")
  extra=("typescript@$typescript" "@types/node@20")
fi
npm install --no-audit --no-fund --loglevel=error "./$tarball" "${extra[@]}"

node quickstart.js | tee quickstart.out | tail -n 3
sent=$(grep -c '"status":"SEND_OK"' quickstart.out || true)
if [[ "$sent" != 1000 ]]; then
  echo "pack-smoke: the installed quickstart sent $sent of 1000 messages" >&2
  exit 1
fi
echo "pack-smoke: the quickstart, installed from $tarball, sent 1000 messages"

if [[ "$mode" == all ]]; then
  npx tsc -p .
  echo "pack-smoke: quickstart.mts type-checks against the shipped index.d.ts"
fi
