#!/usr/bin/env bash
# Runs a command with NAMESRV_ADDR set (see ensure_cluster in cluster.sh).
set -euo pipefail
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=cluster.sh
. "$(dirname "$0")/cluster.sh"
ensure_cluster || exit 2
"$@"
