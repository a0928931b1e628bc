#!/usr/bin/env bash
# Builds and runs the C tests of librmqproducer (called by `make c-test`):
#   1. compile tests/c with -Wall -Wextra -Werror -pedantic (C99), with and without ASan, and the
#      header as C++11;
#   2. test_offline under ASan (leak detection on);
#   3. test_cluster, test_features and test_tls under ASan against NAMESRV_ADDR, each followed by
#      readback.py, which compares the store, read by the Java tool, with what was sent;
#   4. every program once more under valgrind (no ASan), the cluster ones with fresh manifests;
#   5. the installed copy (FFI_PREFIX): pkg-config and the CMake package compile and link a
#      program, shared and static; the soname and the exported symbols.
#   6. include/rmqproducer.h is what the pinned cbindgen generates (make ffi-header-check).
# The rocketmq-client-cpp C API shim (librocketmq.so, include/rocketmq) goes through the same
# steps: tests/c/compat, built with the official header names only and -lrocketmq.
# Every step is a check; the last line is "N passed, N failed".
#
# Environment: REPO, FFI_LIB_DIR (staged librmqproducer), FFI_PREFIX (an install of it) with
# FFI_VERSION and FFI_ABI (its version and its soname's, as mk/ffi.mk has them), CC, CXX,
# NAMESRV_ADDR (optional), RMQ_PORT_BASE (the cluster's, for the Java tools), RMQ_SECURE_* (the
# secure cluster; its test is skipped without them), RMQ_MTLS_* (the mutual-TLS cluster, for
# test_tls; skipped without them), RMQ_C_TEST_SKIP_VALGRIND=1 to leave out step 4.
set -u

repo=${REPO:?REPO is not set}
lib_dir=${FFI_LIB_DIR:?FFI_LIB_DIR is not set}
prefix=${FFI_PREFIX:-}
cc=${CC:-cc}
cxx=${CXX:-c++}
out="$repo/build/ffi/tests"
here="$repo/tests/c"
mkdir -p "$out"

passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok      $1" >&2; }
fail() { failed=$((failed + 1)); echo "not ok  $1" >&2; }

# check NAME COMMAND...: one check that passes when the command exits 0.
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}

# suite NAME COMMAND...: runs a test program and adds its "N passed, N failed" line to the totals;
# a program that crashes or exits non-zero without failures counts as one failure.
suite() {
  local name=$1 log="$out/$1.log" status line p f
  shift
  "$@" >"$log" 2>&1
  status=$?
  cat "$log" >&2
  line=$(grep -E '^[A-Za-z_]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.*, ([0-9]+) failed/\1/')
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then fail "$name exited with status $status"; fi
  else
    fail "$name exited with status $status before its summary"
  fi
}

cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -g -I"$repo/include")
link=(-L"$lib_dir" -lrmqproducer -Wl,-rpath,"$lib_dir" -lpthread)
asan=(-fsanitize=address -fno-omit-frame-pointer)

for program in test_offline test_cluster test_features test_tls; do
  check "compile $program (ASan)" \
    "$cc" "${cflags[@]}" "${asan[@]}" "$here/$program.c" -o "$out/$program.asan" "${link[@]}"
  check "compile $program" \
    "$cc" "${cflags[@]}" -O1 "$here/$program.c" -o "$out/$program" "${link[@]}"
done
# The compat programs see the official header names only (include/rocketmq, no rmqproducer.h).
compat_cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -g -I"$repo/include/rocketmq" -I"$here"
  -I"$here/compat")
compat_link=(-L"$lib_dir" -lrocketmq -Wl,-rpath,"$lib_dir" -lpthread)
for program in compat_offline compat_producer; do
  check "compile $program (ASan)" \
    "$cc" "${compat_cflags[@]}" "${asan[@]}" "$here/compat/$program.c" -o "$out/$program.asan" \
    "${compat_link[@]}"
  check "compile $program" \
    "$cc" "${compat_cflags[@]}" -O1 "$here/compat/$program.c" -o "$out/$program" "${compat_link[@]}"
done
check "compat headers compile as C++11" \
  "$cxx" -std=c++11 -Wall -Wextra -Werror -pedantic -I"$repo/include/rocketmq" \
  -c "$here/compat/header_cpp.cpp" -o "$out/compat_header_cpp.o"

check "header compiles as C++11" \
  "$cxx" -std=c++11 -Wall -Wextra -Werror -pedantic -I"$repo/include" \
  -c "$here/header_cpp.cpp" -o "$out/header_cpp.o"

export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1
suite test_offline_asan "$out/test_offline.asan"
suite compat_offline_asan "$out/compat_offline.asan"

valgrind=(valgrind --quiet --error-exitcode=99 --leak-check=full --suppressions="$here/valgrind.supp"
  --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect)
with_valgrind=1
if [ "${RMQ_C_TEST_SKIP_VALGRIND:-}" = 1 ]; then
  with_valgrind=0
fi
if [ "$with_valgrind" = 1 ]; then
  suite test_offline_valgrind "${valgrind[@]}" "$out/test_offline"
  suite compat_offline_valgrind "${valgrind[@]}" "$out/compat_offline"
fi

# readback NAME PROGRAM MANIFEST: readback.py on what PROGRAM sent, as the check NAME. test_tls sends
# nothing when its tests are skipped (no RMQ_MTLS_* cluster), and any program when none of its
# tests is selected (RMQ_C_TESTS).
readback() {
  if [ ! -s "$3" ] && { [ "$2" = test_tls ] || [ -n "${RMQ_C_TESTS:-}" ]; }; then
    echo "skip    $1 ($2 sent nothing)" >&2
    return
  fi
  suite "$1" python3 "$here/readback.py" "$3" "$reader"
}

if [ -n "${NAMESRV_ADDR:-}" ]; then
  run="$(date +%s)$$"
  reader="$repo/tests/cluster/rmq-cluster"
  export RMQ_CLUSTER="$reader"
  for program in test_cluster test_features test_tls compat_producer; do
    RMQ_C_TEST_MANIFEST="$out/$program-asan.jsonl" RMQ_C_TEST_RUN="${run}a" \
      suite "${program}_asan" "$out/$program.asan"
    readback "readback_${program}_asan" "$program" "$out/$program-asan.jsonl"
    if [ "$with_valgrind" = 1 ]; then
      RMQ_C_TEST_MANIFEST="$out/$program-valgrind.jsonl" RMQ_C_TEST_RUN="${run}v" \
        suite "${program}_valgrind" "${valgrind[@]}" "$out/$program"
      readback "readback_${program}_valgrind" "$program" "$out/$program-valgrind.jsonl"
    fi
  done
else
  fail "cluster tests: NAMESRV_ADDR is not set (make c-test starts a cluster when it is not)"
fi

if [ -n "$prefix" ]; then
  export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
  check "pkg-config knows rmqproducer" pkg-config --exists rmqproducer
  # shellcheck disable=SC2046
  check "link the installed shared library via pkg-config" \
    "$cc" "${cflags[@]}" "$repo/examples/c/quickstart.c" -o "$out/quickstart-shared" \
    $(pkg-config --cflags --libs rmqproducer) -Wl,-rpath,"$prefix/lib"
  # shellcheck disable=SC2046
  check "link the installed static library via pkg-config --static" \
    "$cc" "${cflags[@]}" "$repo/examples/c/quickstart.c" -o "$out/quickstart-static" \
    $(pkg-config --cflags rmqproducer) "$prefix/lib/librmqproducer.a" \
    $(pkg-config --static --libs-only-l rmqproducer | sed 's/-lrmqproducer//')
  check "the shared build resolves librmqproducer.so from the prefix" \
    bash -c "ldd '$out/quickstart-shared' | grep -q '$prefix/lib/librmqproducer.so'"
  check "the static build needs no librmqproducer.so" \
    bash -c "! ldd '$out/quickstart-static' | grep -q librmqproducer"

  version=${FFI_VERSION:?FFI_VERSION is not set}
  abi=${FFI_ABI:?FFI_ABI is not set}
  check "the soname is librmqproducer.so.$abi: it changes with every ABI break" \
    bash -c "readelf -d '$prefix/lib/librmqproducer.so.$version' | grep -q 'soname: \[librmqproducer.so.$abi\]'"
  check "the shared library exports rmq_ symbols only" \
    bash -c "! nm -D --defined-only '$prefix/lib/librmqproducer.so.$version' | awk '{ print \$3 }' | grep -v '^rmq_'"
  check "link the installed librocketmq with the official include path and -lrocketmq" \
    "$cc" -std=c99 -Wall -Wextra -Werror -pedantic -I"$prefix/include/rocketmq" -I"$here" \
    -I"$here/compat" "$here/compat/compat_producer.c" -o "$out/compat_producer-installed" \
    -L"$prefix/lib" -lrocketmq -Wl,-rpath,"$prefix/lib" -lpthread
  check "the installed librocketmq.so resolves librmqproducer.so from the prefix" \
    bash -c "ldd '$out/compat_producer-installed' | grep -q '$prefix/lib/librmqproducer.so'"
  consumer="$out/cmake-consumer"
  rm -rf "$consumer"
  check "CMake: find_package(rmqproducer $abi) and link rmqproducer::rmqproducer(_static)" \
    bash -c "cmake -S '$here/cmake-consumer' -B '$consumer' -DCMAKE_PREFIX_PATH='$prefix' \
               -DRMQ_WANT='$abi' -DCMAKE_C_COMPILER='$cc' >/dev/null \
             && cmake --build '$consumer' >/dev/null \
             && ldd '$consumer/quickstart-shared' | grep -q '$prefix/lib/librmqproducer.so.$abi' \
             && ! ldd '$consumer/quickstart-static' | grep -q librmqproducer"
  check "CMake: find_package(rmqproducer 99.0) is refused" \
    bash -c "! cmake -S '$here/cmake-consumer' -B '$consumer-99' -DCMAKE_PREFIX_PATH='$prefix' \
               -DRMQ_WANT=99.0 >/dev/null 2>&1"
fi

check "include/rmqproducer.h matches cbindgen's output" \
  make --no-print-directory -C "$repo" ffi-header-check

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
