#!/usr/bin/env bash
# Builds every benchmark client (bench/README.md). A client that cannot be built does not stop
# the others: its reason goes to .cache/bench/status/<client>.txt and the driver reports it in
# place of its results. Only the ceiling broker and ours via Rust are required.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${BENCH_CACHE:-$REPO/.cache/bench}
# One target folder for every cargo build below (the harness, rmq-ffi, the Python and Node
# bindings, the rocketmq-client-rust peer): crates they share compile once. Under .cache, so a
# developer's own target/ (debug builds, other profiles) is neither used nor disturbed.
export CARGO_TARGET_DIR=${BENCH_TARGET_DIR:-$CACHE/target}
RMQ_CACHE=${RMQ_CACHE_DIR:-$REPO/.cache}
CARGO=${CARGO:-cargo}
CPP_WHEEL=rocketmq==0.4.4
STATUS=$CACHE/status
LOGS=$CACHE/build-logs
mkdir -p "$CACHE/bin" "$CACHE/home" "$STATUS" "$LOGS"

say() { echo "bench-build: $*" >&2; }

# Runs a build step for one client; on failure records the log's last lines as the reason.
step() {
    local client=$1 started=$SECONDS
    shift
    rm -f "$STATUS/$client.txt"
    if "$@" >"$LOGS/$client.log" 2>&1; then
        say "$client: built in $((SECONDS - started)) s"
        return 0
    fi
    {
        echo -n "build failed: "
        grep -E '^error|error:|Error' "$LOGS/$client.log" | head -n 3 | tr '\n' ' '
        echo "(log: .cache/bench/build-logs/$client.log)"
    } >"$STATUS/$client.txt"
    say "$client: $(cat "$STATUS/$client.txt")"
    return 1
}

build_harness() {
    $CARGO build --release --manifest-path "$REPO/bench/harness/Cargo.toml"
}

build_mxsm() {
    $CARGO build --release --manifest-path "$REPO/bench/peers/mxsm/Cargo.toml"
}

# The library's SONAME is versioned (librmqproducer.so.0.1): link and run against a private copy.
build_ours_c() {
    local lib=$CACHE/ffi-lib soname
    $CARGO build --release -p rmq-ffi --manifest-path "$REPO/Cargo.toml" &&
        rm -rf "$lib" && mkdir -p "$lib" &&
        cp "$CARGO_TARGET_DIR/release/librmqproducer.so" "$lib/" &&
        soname="$(readelf -d "$lib/librmqproducer.so" | sed -n 's/.*soname: \[\(.*\)\]/\1/p')" &&
        ln -s librmqproducer.so "$lib/$soname" &&
        gcc -O2 -Wall -Wextra -I"$REPO/include" -o "$CACHE/bin/bench-ours-c" \
            "$REPO/bench/c/bench_ours_c.c" "$REPO/bench/c/bench_contract.c" \
            -L"$lib" -lrmqproducer -Wl,-rpath,"$lib" -lpthread -lm
}

# The official C++ client ships inside the PyPI wheel rocketmq==0.4.4 (librocketmq.so).
build_cpp() {
    local dir=$CACHE/cpp
    if [ ! -f "$dir/rocketmq/librocketmq.so" ]; then
        mkdir -p "$CACHE/wheels" &&
            python3 -m pip download --quiet --no-deps --only-binary=:all: \
                --platform manylinux1_x86_64 --dest "$CACHE/wheels" "$CPP_WHEEL" &&
            rm -rf "$dir" && mkdir -p "$dir" &&
            python3 -m zipfile -e "$CACHE"/wheels/rocketmq-0.4.4-*.whl "$dir" || return 1
    fi
    gcc -O2 -Wall -Wextra -o "$CACHE/bin/bench-cpp" \
        "$REPO/bench/c/bench_cpp.c" "$REPO/bench/c/bench_contract.c" \
        -L"$dir/rocketmq" -l:librocketmq.so -Wl,-rpath,"$dir/rocketmq" -lpthread -lm
}

# The Java client's jars are the cluster launcher's (.cache/rocketmq-5.3.3/lib).
build_java() {
    "$REPO/tests/cluster/rmq-cluster" fetch &&
        mkdir -p "$CACHE/java-classes" &&
        javac -nowarn -cp "$RMQ_CACHE/rocketmq-5.3.3/lib/*" -d "$CACHE/java-classes" \
            "$REPO/bench/java/BenchProducer.java" &&
        cp "$REPO/bench/java/rmq.logback-test.xml" "$CACHE/java-classes/"
}

# The driver's interpreter for the charts: a venv with matplotlib.
build_venv() {
    [ -x "$CACHE/venv/bin/python" ] || python3 -m venv "$CACHE/venv" || return 1
    "$CACHE/venv/bin/python" -c 'import matplotlib' 2>/dev/null ||
        "$CACHE/venv/bin/python" -m pip install --quiet matplotlib
}

# Ours via Python: the abi3 wheel built from bindings/python, installed into the bench venv.
build_ours_python() {
    local wheels=$CACHE/wheels-ours
    "$CACHE/venv/bin/python" -m pip install --quiet 'maturin>=1.9.4,<2' &&
        rm -rf "$wheels" &&
        "$CACHE/venv/bin/maturin" build --release --strip --interpreter "$CACHE/venv/bin/python" \
            --manifest-path "$REPO/bindings/python/Cargo.toml" --out "$wheels" &&
        "$CACHE/venv/bin/python" -m pip install --quiet --force-reinstall --no-deps \
            "$wheels"/rmqproducer-*.whl
}

# Ours via Node: the addon built in place by mk/node.mk, then loaded once as a check.
build_ours_node() {
    make --no-print-directory -f "$REPO/Makefile" node-build &&
        node -e "const { Producer } = require('$REPO/bindings/node'); if (typeof Producer !== 'function') process.exit(1)"
}

step harness build_harness || exit 1
step java build_java
step cpp build_cpp
step ours-c build_ours_c
step venv build_venv
step rust-mxsm build_mxsm
step ours-python build_ours_python
step ours-node build_ours_node
say "all built in $SECONDS s (target folder: $CARGO_TARGET_DIR)"
exit 0
