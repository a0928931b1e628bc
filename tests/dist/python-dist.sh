#!/usr/bin/env bash
# The Python distribution: abi3 wheels for Linux x86_64 and aarch64 (manylinux2014, glibc 2.17+,
# cross-built with zig, so no container is needed) and the sdist; then the proof that users can
# install them from a package index.
#
#   python-dist.sh build [TARGET/COMPAT ...]   wheels (default: every Linux target) + sdist
#   python-dist.sh check                       tags and architectures; then a local PyPI
#                                              (pypiserver): upload, install in fresh venvs (the
#                                              wheel with no compiler, the sdist from source) and
#                                              run the quickstart against NAMESRV_ADDR or a local
#                                              cluster started for it
#
# Output in build/dist/python; tools as tests/dist/tools.sh installs them.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=tests/dist/tools.sh
. "$repo/tests/dist/tools.sh"
out="$repo/build/dist/python"
# musllinux_1_2 wheels build (x86_64-unknown-linux-musl/musllinux_1_2), but zig links them against
# `libc.so` where auditwheel's musllinux policy wants `libc.musl-<arch>.so.1`, so auditwheel
# tags them linux_<arch>: not shipped until that is mended.
all_targets=(
  x86_64-unknown-linux-gnu/manylinux2014
  aarch64-unknown-linux-gnu/manylinux2014
)

step() { echo "== python-dist: $*" >&2; }

build() {
  local targets=("$@") spec target compat
  [ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
  dist_tools
  rm -rf "$out" && mkdir -p "$out"
  for spec in "${targets[@]}"; do
    target="${spec%/*}" compat="${spec#*/}"
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
    step "wheel for $target ($compat), a release build: a few minutes"
    maturin build --release --strip --zig --target "$target" --compatibility "$compat" \
      --manifest-path "$repo/bindings/python/Cargo.toml" --out "$out"
  done
  step "sdist"
  maturin sdist --manifest-path "$repo/bindings/python/Cargo.toml" --out "$out"
  ls -l "$out" >&2
}

# The platform tag auditwheel finds for a wheel, and the machine its native module is built for.
check_wheel() {
  local wheel="$1" want_tag want_machine machine
  case "$wheel" in
    *manylinux*x86_64*) want_tag=manylinux_2_17_x86_64 want_machine=x86-64 ;;
    *manylinux*aarch64*) want_tag=manylinux_2_17_aarch64 want_machine=AArch64 ;;
    *musllinux*x86_64*) want_tag=musllinux_1_2_x86_64 want_machine=x86-64 ;;
    *musllinux*aarch64*) want_tag=musllinux_1_2_aarch64 want_machine=AArch64 ;;
    *) echo "FAIL $wheel: not a manylinux/musllinux wheel" >&2; return 1 ;;
  esac
  auditwheel show "$wheel" | tr -d '\n' | grep -q "consistent with the following platform tag:.*\"$want_tag\"" \
    || { auditwheel show "$wheel" >&2; echo "FAIL $wheel: not $want_tag" >&2; return 1; }
  machine="$(python3 - "$wheel" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    module = next(n for n in wheel.namelist() if n.endswith(".so"))
    header = wheel.read(module)[:20]
assert header[:4] == b"\x7fELF", module
print({62: "x86-64", 183: "AArch64"}.get(int.from_bytes(header[18:20], "little"), "other"))
EOF
)"
  [ "$machine" = "$want_machine" ] || { echo "FAIL $wheel: built for $machine" >&2; return 1; }
  echo "ok      $(basename "$wheel"): $want_tag, $machine"
}

check() {
  dist_tools
  shopt -s nullglob
  local wheels=("$out"/*.whl) sdists=("$out"/*.tar.gz)
  [ ${#wheels[@]} -gt 0 ] && [ ${#sdists[@]} -eq 1 ] \
    || { echo "FAIL: no wheels or sdist in $out; run 'make dist-python' first" >&2; return 1; }
  for wheel in "${wheels[@]}"; do check_wheel "$wheel"; done

  local port index
  # Globals: the EXIT trap reads them.
  work="$(mktemp -d)"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  index="http://127.0.0.1:$port"
  mkdir -p "$work/registry"
  # No authentication: anyone on loopback may upload, as twine would to a private index.
  pypi-server run --host 127.0.0.1 --port "$port" -a . -P . "$work/registry" 2>"$work/pypiserver.log" &
  pid=$!
  trap 'kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
  for _ in $(seq 50); do curl -sf "$index/simple/" >/dev/null && break; sleep 0.2; done
  step "uploading to the local PyPI at $index"
  for file in "${wheels[@]}" "${sdists[@]}"; do
    curl -sf -F ':action=file_upload' -F "content=@$file" "$index/" >/dev/null \
      || { cat "$work/pypiserver.log" >&2; echo "FAIL: upload of $file" >&2; return 1; }
  done

  step "pip install rmqproducer (a wheel, no compiler) in a fresh venv; the quickstart"
  python3 -m venv "$work/wheel-venv"
  PATH=/usr/bin:/bin CC=false "$work/wheel-venv/bin/pip" install --quiet --disable-pip-version-check \
    --only-binary :all: --index-url "$index/simple/" rmqproducer
  quickstart "$work/wheel-venv/bin/python"

  step "pip install rmqproducer from the sdist (Rust and a C compiler needed) in a fresh venv"
  python3 -m venv "$work/sdist-venv"
  "$work/sdist-venv/bin/pip" install --quiet --disable-pip-version-check "${dist_python_tools[0]}"
  "$work/sdist-venv/bin/pip" install --quiet --disable-pip-version-check --no-build-isolation \
    --no-binary rmqproducer --index-url "$index/simple/" rmqproducer
  quickstart "$work/sdist-venv/bin/python"
}

quickstart() {
  local python="$1" log sent
  log="$(mktemp)"
  (cd / && bash "$repo/tests/with-cluster.sh" "$python" "$repo/examples/python/quickstart.py") >"$log" 2>&1 || true
  sent="$(grep -c 'SEND_OK' "$log" || true)"
  [ "$sent" -eq 1000 ] || { tail -20 "$log" >&2; echo "FAIL: the quickstart sent $sent of 1000 messages" >&2; return 1; }
  rm -f "$log"
  echo "ok      installed from the local PyPI: the quickstart sent 1000 messages ($python)"
}

case "${1:-}" in
  build) shift; build "$@" ;;
  check) check ;;
  *) echo "usage: $0 build [TARGET/COMPAT ...] | check" >&2; exit 2 ;;
esac
