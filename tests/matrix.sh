#!/usr/bin/env bash
# `make test-matrix`: the send path of every binding (and the Rust core's whole suite where the
# deployment has the two groups it assumes) on every deployment of the table below. Each
# deployment is brought up on the matrix's port base (beside the default cluster), with a secure
# cluster of the same version at base + 1000 for 5.x masters (4.9 has no ACL 2.0: those tests
# skip there), each suite runs against it, it is brought down, and the next comes up. Ends with a
# table deployment x suite x result x time. The core's tests of the controller and the Proxy are
# rmq-core/tests/deployment_{controller,proxy}.rs, part of `make test`.
#   RMQ_MATRIX="masters-4.9.7 ..."  only those rows      RMQ_MATRIX_SUITES="rust c"  only those suites
#   RMQ_MATRIX_PORT_BASE (29876)    RMQ_MATRIX_SUITE_TIMEOUT (seconds per suite, 3600)
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
cluster="$repo/tests/cluster/rmq-cluster"

# One row per deployment: its name | the arguments of `rmq-cluster up` | its suites.
rows=(
  "masters-4.9.7 | --topology masters --version 4.9.7 | rust c python node"
  "masters-5.5.0 | --topology masters --version 5.5.0 | rust c python node"
  "master-slave-5.3.3 | --topology master-slave --version 5.3.3 | rust c python node"
  "controller-5.3.3 | --topology controller --version 5.3.3 | c python node"
  "proxy-5.3.3 | --topology proxy --version 5.3.3 | c python node"
)
# One line per suite: its name | what builds it (once, before any deployment is up) | its command
# (which gets its cluster from NAMESRV_ADDR, RMQ_PORT_BASE and RMQ_SECURE_*). A binding's send
# path: every send form, batches, queue selection, delays, read back by the Java reader.
suites=(
  "rust | cargo test -p rmq-core --no-run | cargo test -p rmq-core --no-fail-fast"
  "c | make --no-print-directory ffi | make --no-print-directory c-test-send-path"
  "python | make --no-print-directory python-wheel | make --no-print-directory python-test-send-path"
  "node | make --no-print-directory node-build | make --no-print-directory node-test-send-path"
)

base="${RMQ_MATRIX_PORT_BASE:-29876}"
secure_base=$((base + 1000))
# The core's mutual-TLS tests (rmq-core/tests/mtls.rs) bring their cluster up here on first use.
export RMQ_MTLS_PORT_BASE=$((base + 1500))
suite_timeout="${RMQ_MATRIX_SUITE_TIMEOUT:-3600}"
# Brokers check half messages every 2 s instead of 30 s (as in tests/run-all.sh).
export RMQ_BROKER_CONF="${RMQ_BROKER_CONF:-transactionTimeOut=2000;transactionCheckInterval=2000}"
# Unattended: a server slow to start on a busy machine must not fail a whole row.
export RMQ_START_TIMEOUT_S="${RMQ_START_TIMEOUT_S:-300}"

picked() { # picked LIST NAME: NAME is in the space-separated LIST, or LIST is empty
  [ -z "$1" ] || [[ " $1 " == *" $2 "* ]]
}

down_all() {
  "$cluster" --port-base "$base" down >/dev/null 2>&1
  "$cluster" --port-base "$secure_base" down >/dev/null 2>&1
  "$cluster" --port-base "$RMQ_MTLS_PORT_BASE" down >/dev/null 2>&1
  true
}
trap down_all EXIT

results=()
record() { # record ROW SUITE RESULT SECONDS
  results+=("$(printf '%-22s %-8s %-8s %6s s' "$1" "$2" "$3" "$4")")
  echo "=== matrix: $1 / $2 $3 in $4 s"
}

# Builds take minutes on a busy machine: done first, so no deployment waits for them (and the
# suite timeout counts tests only).
for suite in "${suites[@]}"; do
  IFS='|' read -r suite_name build _ <<<"$suite"
  suite_name="${suite_name// /}"
  picked "${RMQ_MATRIX_SUITES:-}" "$suite_name" || continue
  echo "=== matrix: building $suite_name: $build"
  begin=$SECONDS
  # shellcheck disable=SC2086 # the command is words
  $build || record build "$suite_name" FAILED $((SECONDS - begin))
done

for row in "${rows[@]}"; do
  IFS='|' read -r name up_args row_suites <<<"$row"
  name="${name// /}"
  picked "${RMQ_MATRIX:-}" "$name" || continue
  read -ra up_args <<<"$up_args"
  version=$(printf '%s\n' "${up_args[@]}" | grep -A1 -x -- --version | tail -n 1)
  version="${version:-5.3.3}" # the launcher's default
  echo
  echo "=== matrix: $name: up ${up_args[*]} (port base $base)"
  down_all
  begin=$SECONDS
  if ! up_output="$("$cluster" --port-base "$base" up "${up_args[@]}")"; then
    record "$name" up FAILED $((SECONDS - begin))
    "$cluster" --port-base "$base" logs --lines 40
    continue
  fi
  # Clients get NAMESRV_ADDR. The Proxy prints REAL_NAMESRV_ADDR (the NameServer behind it) too:
  # the tests then create their topics first, as the Proxy sends only to topics it knows.
  export "$(grep '^NAMESRV_ADDR=' <<<"$up_output")" RMQ_PORT_BASE="$base"
  unset REAL_NAMESRV_ADDR
  if real_line="$(grep '^REAL_NAMESRV_ADDR=' <<<"$up_output")"; then export "${real_line?}"; fi
  unset RMQ_SECURE_NAMESRV_ADDR RMQ_SECURE_PORT_BASE RMQ_SECURE_ACCESS_KEY RMQ_SECURE_SECRET_KEY
  # The core's secure tests (ACL 2.0, 5.x) need a secure cluster beside it; the bindings' send
  # paths do not.
  if [[ "$version" == 5.* ]] && picked "$row_suites" rust; then
    if secure_line="$("$cluster" --port-base "$secure_base" up --secure --version "$version")"; then
      export RMQ_SECURE_NAMESRV_ADDR="${secure_line#NAMESRV_ADDR=}" RMQ_SECURE_PORT_BASE="$secure_base"
      export RMQ_SECURE_ACCESS_KEY=rocketmq RMQ_SECURE_SECRET_KEY=12345678
    else
      echo "=== matrix: $name: the secure cluster did not come up; its tests will fail" >&2
    fi
  fi
  record "$name" up passed $((SECONDS - begin))

  for suite in "${suites[@]}"; do
    IFS='|' read -r suite_name _ command <<<"$suite"
    suite_name="${suite_name// /}"
    picked "${RMQ_MATRIX_SUITES:-}" "$suite_name" || continue
    picked "$row_suites" "$suite_name" || continue
    echo "=== matrix: $name / $suite_name: $command"
    begin=$SECONDS
    # shellcheck disable=SC2086 # the command is words
    if timeout --kill-after=30 "$suite_timeout" $command; then
      record "$name" "$suite_name" passed $((SECONDS - begin))
    else
      record "$name" "$suite_name" FAILED $((SECONDS - begin))
      "$cluster" --port-base "$base" logs --lines 20
    fi
    # A suite that failed with a broker stopped or paused must not break the next one.
    for broker in broker-a broker-b; do "$cluster" --port-base "$base" resume-broker "$broker" >/dev/null 2>&1; done
    "$cluster" --port-base "$base" up "${up_args[@]}" >/dev/null 2>&1
  done
  down_all
done

echo
echo "deployment             suite    result     time"
printf '%s\n' "${results[@]}"
! printf '%s\n' "${results[@]}" | grep -q ' FAILED '
