#!/usr/bin/env bash
# `make test`: brings up one local RocketMQ cluster (unless NAMESRV_ADDR names one), runs every
# suite against it, prints the servers' logs when a suite fails, and stops the cluster at the end
# whatever the outcome. Exits non-zero when any suite fails.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
cluster="$repo/tests/cluster/rmq-cluster"
export RMQ_PORT_BASE="${RMQ_PORT_BASE:-19876}"
# Brokers check half messages every 2 s instead of 30 s, so transaction check-backs are quick.
export RMQ_BROKER_CONF="${RMQ_BROKER_CONF:-transactionTimeOut=2000;transactionCheckInterval=2000}"

own_cluster=0
own_secure=0
own_mtls=0
stop_clusters() {
  [ "$own_cluster" = 1 ] && "$cluster" down >/dev/null 2>&1
  [ "$own_secure" = 1 ] && "$cluster" --port-base "$RMQ_SECURE_PORT_BASE" down >/dev/null 2>&1
  [ "$own_mtls" = 1 ] && "$cluster" --port-base "$RMQ_MTLS_PORT_BASE" down >/dev/null 2>&1
  true
}
trap stop_clusters EXIT
if [ -z "${NAMESRV_ADDR:-}" ]; then
  own_cluster=1
  if ! addr_line="$("$cluster" up)"; then
    echo "run-all: the local cluster did not come up" >&2
    exit 1
  fi
  export "${addr_line?}"
fi
echo "run-all: NAMESRV_ADDR=$NAMESRV_ADDR"

# A second cluster whose brokers require TLS and ACL 2.0 signatures, for every language's
# TLS and ACL tests (tests/cluster/README.md, "Secure cluster").
export RMQ_SECURE_PORT_BASE="${RMQ_SECURE_PORT_BASE:-$((RMQ_PORT_BASE + 1000))}"
if [ -z "${RMQ_SECURE_NAMESRV_ADDR:-}" ]; then
  own_secure=1
  if ! addr_line="$("$cluster" --port-base "$RMQ_SECURE_PORT_BASE" up --secure)"; then
    echo "run-all: the secure cluster did not come up" >&2
    exit 1
  fi
  export RMQ_SECURE_NAMESRV_ADDR="${addr_line#NAMESRV_ADDR=}"
fi
export RMQ_SECURE_ACCESS_KEY=rocketmq RMQ_SECURE_SECRET_KEY=12345678
echo "run-all: RMQ_SECURE_NAMESRV_ADDR=$RMQ_SECURE_NAMESRV_ADDR"

# A third, of one broker that requires TLS with a client certificate of the launcher's test CA,
# for every language's mutual-TLS tests ("Mutual TLS" in tests/cluster/README.md): RMQ_MTLS_PORT_BASE,
# _NAMESRV_ADDR and the files' paths, RMQ_MTLS_CA_FILE, _CERT_FILE, _KEY_FILE, _UNTRUSTED_*_FILE.
export RMQ_MTLS_PORT_BASE="${RMQ_MTLS_PORT_BASE:-$((RMQ_PORT_BASE + 1500))}"
"$cluster" --port-base "$RMQ_MTLS_PORT_BASE" status >/dev/null 2>&1 || own_mtls=1
if ! mtls_lines="$("$cluster" --port-base "$RMQ_MTLS_PORT_BASE" up --mtls)"; then
  echo "run-all: the mutual-TLS cluster did not come up" >&2
  exit 1
fi
while IFS= read -r line; do export "RMQ_MTLS_${line#TLS_}"; done <<<"$mtls_lines"
echo "run-all: RMQ_MTLS_NAMESRV_ADDR=$RMQ_MTLS_NAMESRV_ADDR"

passed=()
failed=()
suite() {
  local name="$1"
  shift
  echo
  echo "=== suite: $name"
  local begin=$SECONDS
  if "$@"; then
    passed+=("$name")
    echo "=== suite $name passed in $((SECONDS - begin)) s"
  else
    failed+=("$name")
    echo "=== suite $name FAILED in $((SECONDS - begin)) s"
    [ "$own_cluster" = 1 ] && "$cluster" logs --lines 40 || true
  fi
  # A suite that stopped a broker on failure must not break the next one.
  [ "$own_cluster" = 1 ] && { "$cluster" resume-broker broker-b >/dev/null 2>&1; "$cluster" up >/dev/null 2>&1; } || true
}

suite lint make --no-print-directory lint
suite rust cargo test -p rmq-core -p rmq-ffi
suite opentelemetry cargo test -p rmq-core --features opentelemetry --test opentelemetry
suite cluster python3 -m pytest -q tests/cluster
suite deployments bash tests/deployments.sh
suite c make --no-print-directory c-test
suite python make --no-print-directory python-test
suite node make --no-print-directory node-test
# The wheel and addon those two suites built, installed by pip and npm from local registries.
suite dist make --no-print-directory dist-native-check
# A short nemesis (tests/chaos/README.md) on a controller deployment of its own base, with the
# library, wheel and addon the c, python and node suites built.
suite chaos make --no-print-directory chaos-short CHAOS_ARGS=--prebuilt

echo
echo "suites passed: ${passed[*]:-none}"
echo "suites failed: ${failed[*]:-none}"
echo "suites: ${#passed[@]} passed, ${#failed[@]} failed"
[ "${#failed[@]}" = 0 ]
