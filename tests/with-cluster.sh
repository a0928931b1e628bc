#!/usr/bin/env bash
# Runs a command against NAMESRV_ADDR when it is set, else against a local cluster started for
# it (and stopped afterwards, whatever the outcome).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cluster="$repo/tests/cluster/rmq-cluster"
if [ -z "${NAMESRV_ADDR:-}" ]; then
  trap '"$cluster" down >/dev/null 2>&1 || true' EXIT
  addr_line="$("$cluster" up)"
  export "${addr_line?}"
  echo "local cluster: $addr_line" >&2
fi
"$@"
