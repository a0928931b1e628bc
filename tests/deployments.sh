#!/usr/bin/env bash
# `make test-deployments` (and the `deployments` suite of `make test`): the core's tests of each
# deployment other than the default cluster, `rmq-core/tests/deployment_<name>.rs`. Each is brought
# up on a port base of its own by its tests, tested, and brought down, one after the other, so
# that two cores and 24 GiB hold it beside the default cluster. RMQ_DEPLOYMENTS="a b" runs only
# those; RMQ_DEPLOYMENT_PORT_BASE moves every base.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
cluster="$repo/tests/cluster/rmq-cluster"
# Transaction check-backs within seconds (as tests/run-all.sh sets for the default cluster).
export RMQ_BROKER_CONF="${RMQ_BROKER_CONF:-transactionTimeOut=2000;transactionCheckInterval=2000}"

# name and default port base (each base uses ports base..base+300).
deployments=(
  "master_slave 22876"
  "controller 23876"
  "proxy 24876"
  "partition 25876"
  "v4 26876"
  "v4_secure 27876"
)
selected=" ${RMQ_DEPLOYMENTS:-} "

passed=()
failed=()
for entry in "${deployments[@]}"; do
  read -r name default_base <<<"$entry"
  if [ -n "${RMQ_DEPLOYMENTS:-}" ] && [[ "$selected" != *" $name "* ]]; then
    continue
  fi
  base="${RMQ_DEPLOYMENT_PORT_BASE:-$default_base}"
  echo "--- deployment $name (port base $base)"
  begin=$SECONDS
  "$cluster" --port-base "$base" down >/dev/null 2>&1
  # One test at a time: the tests kill, pause and drain the servers they share.
  if RMQ_DEPLOYMENT_PORT_BASE="$base" cargo test -q -p rmq-core --test "deployment_$name" -- \
      --ignored --test-threads=1 --nocapture; then
    passed+=("$name")
    echo "--- deployment $name passed in $((SECONDS - begin)) s"
  else
    failed+=("$name")
    echo "--- deployment $name FAILED in $((SECONDS - begin)) s"
    "$cluster" --port-base "$base" logs --lines 40 || true
  fi
  "$cluster" --port-base "$base" down >/dev/null 2>&1
done
echo "deployments passed: ${passed[*]:-none}; failed: ${failed[*]:-none}"
[ "${#failed[@]}" = 0 ]
