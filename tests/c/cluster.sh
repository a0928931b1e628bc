# Sourced by the C test scripts. ensure_cluster leaves NAMESRV_ADDR set: the caller's, or else that
# of a local cluster (tests/cluster/rmq-cluster, port base RMQ_PORT_BASE) started now and stopped
# when the shell exits, unless it was already up. Needs REPO.

ensure_cluster() {
  if [ -n "${NAMESRV_ADDR:-}" ]; then
    return 0
  fi
  local cluster="$REPO/tests/cluster/rmq-cluster"
  if [ ! -x "$cluster" ]; then
    echo "NAMESRV_ADDR is not set and there is no $cluster to start a cluster" >&2
    return 1
  fi
  if ! "$cluster" status >/dev/null 2>&1; then
    # shellcheck disable=SC2064
    trap "'$cluster' down >/dev/null 2>&1 || true" EXIT
  fi
  NAMESRV_ADDR=$("$cluster" up | sed -n 's/^NAMESRV_ADDR=//p' | tail -n 1)
  if [ -z "$NAMESRV_ADDR" ]; then
    echo "rmq-cluster up printed no NAMESRV_ADDR" >&2
    return 1
  fi
  export NAMESRV_ADDR
}
