#!/usr/bin/env bash
# The C distribution: one tarball per Linux target with librmqproducer.so (soname
# librmqproducer.so.0.<minor> while on 0.x), librmqproducer.a, include/rmqproducer.h, a
# relocatable rmqproducer.pc and the CMake package (find_package(rmqproducer)), each built with
# cargo-zigbuild against glibc 2.17. Then the proof that programs build against an unpacked tarball.
#
#   c-dist.sh build [TARGET ...]   tarballs (default: x86_64 and aarch64 Linux, glibc 2.17+,
#                                  both built with cargo-zigbuild)
#   c-dist.sh check                each tarball's architecture, glibc symbol versions, soname
#                                  and exports; the C quickstart built against each (aarch64:
#                                  with zig, run under qemu-user; this machine's: with CMake and
#                                  with pkg-config), run against NAMESRV_ADDR or a local cluster
#
# Output in build/dist/c; builds in .cache/dist/target; tools as tests/dist/tools.sh installs them.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=tests/dist/tools.sh
. "$repo/tests/dist/tools.sh"
out="$repo/build/dist/c"
all_targets=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu)
# The version and the soname's version (0.<minor> while on 0.x), as mk/ffi.mk has them.
version="${FFI_VERSION:?run through make dist-c / dist-c-check}"
abi="${FFI_ABI:?run through make dist-c / dist-c-check}"

step() { echo "== c-dist: $*" >&2; }

# The target's name in the tarball's: x86_64-linux-gnu, aarch64-linux-gnu.
short() { echo "${1/-unknown-/-}"; }

build() {
  local targets=("$@") target lib stage
  # The release profile keeps line tables for the tests' backtraces; what users get has none (the
  # .so 6 MB instead of 39), built in a target folder of its own so as not to rebuild the tests'.
  export CARGO_TARGET_DIR="$dist_target_dir" CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_STRIP=debuginfo
  [ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
  rm -rf "$out" && mkdir -p "$out"
  for target in "${targets[@]}"; do
    step "librmqproducer for $target, a release build: a few minutes"
    dist_tools
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
    # glibc 2.17, as the manylinux2014 wheels, this machine's target too: a native build would
    # need this machine's glibc.
    cargo zigbuild --release -p rmq-ffi --target "$target.2.17" >&2
    lib="$dist_target_dir/$target/release"
    stage="$out/rmqproducer-$version-$(short "$target")"
    make --no-print-directory -C "$repo" ffi-dist-install FFI_RELEASE_DIR="$lib" \
      FFI_LIB_DIR="$out/lib-$target" FFI_INSTALL_DIR="$stage" >&2
    rm -rf "$out/lib-$target"
    # Relocatable: the prefix is wherever the tarball was unpacked.
    sed -i 's|^prefix=.*|prefix=${pcfiledir}/../..|' "$stage/lib/pkgconfig/rmqproducer.pc"
    cp "$repo/LICENSE" "$repo/NOTICE" "$repo/CHANGELOG.md" "$stage/"
    cp "$repo/rmq-ffi/README.md" "$stage/README.md"
    tar -C "$out" -czf "$stage.tar.gz" "$(basename "$stage")"
    rm -rf "$stage"
  done
  ls -l "$out" >&2
}

check() {
  shopt -s nullglob
  local tarballs=("$out"/*.tar.gz) tarball prefix machine want glibc
  [ ${#tarballs[@]} -gt 0 ] || { echo "FAIL: no tarballs in $out; run 'make dist-c'" >&2; return 1; }
  work="$(mktemp -d)" # a global: the EXIT trap reads it
  trap 'rm -rf "$work"' EXIT
  for tarball in "${tarballs[@]}"; do
    tar -C "$work" -xzf "$tarball"
    prefix="$work/$(basename "$tarball" .tar.gz)"
    case "$tarball" in
      *x86_64*) want="Advanced Micro Devices X86-64" ;;
      *aarch64*) want="AArch64" ;;
    esac
    machine="$(readelf -h "$prefix/lib/librmqproducer.so.$version" | sed -n 's/^ *Machine: *//p')"
    [ "$machine" = "$want" ] || { echo "FAIL $tarball: built for $machine" >&2; return 1; }
    readelf -d "$prefix/lib/librmqproducer.so.$version" | grep -q "soname: \[librmqproducer.so.$abi\]" \
      || { echo "FAIL $tarball: soname is not librmqproducer.so.$abi" >&2; return 1; }
    ! nm -D --defined-only "$prefix/lib/librmqproducer.so.$version" | awk '{ print $3 }' | grep -v '^rmq_' \
      || { echo "FAIL $tarball: exports symbols besides rmq_*" >&2; return 1; }
    for file in include/rmqproducer.h lib/librmqproducer.a lib/pkgconfig/rmqproducer.pc \
      lib/cmake/rmqproducer/rmqproducer-config.cmake LICENSE NOTICE; do
      [ -e "$prefix/$file" ] || { echo "FAIL $tarball: no $file" >&2; return 1; }
    done
    glibc="$(dist_glibc_needed "$prefix/lib/librmqproducer.so.$version")"
    dist_glibc_at_most "$prefix/lib/librmqproducer.so.$version" GLIBC_2.17 \
      || { echo "FAIL $tarball: needs $glibc, above glibc 2.17" >&2; return 1; }
    echo "ok      $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB): $machine, $glibc at most, soname librmqproducer.so.$abi, rmq_* exports only"
    if [[ "$tarball" == *aarch64* ]] && dist_arm64_runner; then
      step "the C quickstart for aarch64, built against the tarball by zig, under qemu-user"
      dist_tools
      python-zig cc -target aarch64-linux-gnu.2.17 -std=c99 -O2 "$repo/examples/c/quickstart.c" \
        -I"$prefix/include" -L"$prefix/lib" -lrmqproducer -Wl,-rpath,"$prefix/lib" \
        -o "$work/quickstart-aarch64"
      dist_quickstart "${dist_arm64_run[@]}" "$work/quickstart-aarch64"
    fi
    [[ "$tarball" == *"$(short "$dist_native_target")"* ]] || continue

    step "a CMake project and a pkg-config build against the unpacked tarball"
    cmake -S "$repo/tests/c/cmake-consumer" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
      -DRMQ_WANT="$abi" >/dev/null
    cmake --build "$work/cmake" >/dev/null
    # shellcheck disable=SC2046
    cc -std=c99 -O2 "$repo/examples/c/quickstart.c" -o "$work/quickstart-pc" \
      $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs rmqproducer) \
      -Wl,-rpath,"$prefix/lib"
    for program in "$work/cmake/quickstart-shared" "$work/cmake/quickstart-static" "$work/quickstart-pc"; do
      dist_quickstart "$program"
    done
  done
}

case "${1:-}" in
  build) shift; build "$@" ;;
  check) check ;;
  *) echo "usage: $0 build [TARGET ...] | check" >&2; exit 2 ;;
esac
