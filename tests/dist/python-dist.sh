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
#   python-dist.sh native                      the wheel `make python-wheel` built, through the
#                                              local PyPI into a fresh venv, and the quickstart
#                                              (what `make test` proves)
#
# Output in build/dist/python; tools as tests/dist/tools.sh installs them.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=tests/dist/tools.sh
. "$repo/tests/dist/tools.sh"
# shellcheck source=tests/dist/arm64-python.sh
. "$repo/tests/dist/arm64-python.sh"
out="$repo/build/dist/python"
all_targets=(
  x86_64-unknown-linux-gnu/manylinux2014
  aarch64-unknown-linux-gnu/manylinux2014
  x86_64-unknown-linux-musl/musllinux_1_2
  aarch64-unknown-linux-musl/musllinux_1_2
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
    case "$target" in *-musl) name_musl_libc "$target" ;; esac
  done
  step "sdist"
  maturin sdist --manifest-path "$repo/bindings/python/Cargo.toml" --out "$out"
  ls -l "$out" >&2
}

# musl's libc under Alpine's name (dist_name_musl_libc) in the wheel maturin just built (tagged
# musllinux_1_2 already), repacked with a new RECORD.
name_musl_libc() {
  local wheel unpacked
  wheel="$(ls -t "$out"/*.whl | head -1)"
  unpacked="$(mktemp -d)"
  wheel unpack --dest "$unpacked" "$wheel" >/dev/null
  dist_name_musl_libc "$(echo "$unpacked"/*/rmqproducer/*.so)" "$1"
  rm "$wheel"
  wheel pack --dest-dir "$out" "$unpacked"/rmqproducer-* >/dev/null
  rm -rf "$unpacked"
}

# The platform tag auditwheel finds for a wheel, and the machine its native module is built for.
check_wheel() {
  local wheel="$1" want_tag want_machine machine libc needed
  case "$wheel" in
    *manylinux*x86_64*) want_tag=manylinux_2_17_x86_64 want_machine=x86-64 ;;
    *manylinux*aarch64*) want_tag=manylinux_2_17_aarch64 want_machine=AArch64 ;;
    *musllinux*x86_64*) want_tag=musllinux_1_2_x86_64 want_machine=x86-64 ;;
    *musllinux*aarch64*) want_tag=musllinux_1_2_aarch64 want_machine=AArch64 ;;
    *) echo "FAIL $wheel: not a manylinux/musllinux wheel" >&2; return 1 ;;
  esac
  auditwheel show "$wheel" 2>/dev/null | tr -s '\n ' '  ' | grep -q "consistent with the following platform tag:.*\"$want_tag\"" \
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
  # What the module links, and the newest glibc symbol version it needs (none for musl).
  python3 -m zipfile -e "$wheel" "$work/wheel"
  libc="$(dist_glibc_needed "$work"/wheel/rmqproducer/*.so)"
  needed="$(readelf -d "$work"/wheel/rmqproducer/*.so | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
  rm -rf "$work/wheel"
  echo "ok      $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB): $want_tag, $machine, ${libc:-no glibc}; needs $needed"
}

check() {
  dist_tools
  shopt -s nullglob
  local wheels=("$out"/*.whl) sdists=("$out"/*.tar.gz)
  [ ${#wheels[@]} -gt 0 ] && [ ${#sdists[@]} -eq 1 ] \
    || { echo "FAIL: no wheels or sdist in $out; run 'make dist-python' first" >&2; return 1; }
  work="$(mktemp -d)" # a global: install_from_index and the EXIT trap use it
  trap 'rm -rf "$work"' EXIT
  for wheel in "${wheels[@]}"; do check_wheel "$wheel"; done
  install_from_index "${wheels[@]}" "${sdists[@]}"
}

# The wheel `make python-wheel` built for this machine (by python-test in `make test`), through
# the local PyPI: what .ci/run proves without the cross builds.
native() {
  shopt -s nullglob
  local wheels=("$repo"/.cache/wheels-python/rmqproducer-*.whl)
  [ ${#wheels[@]} -eq 1 ] || { echo "FAIL: no wheel in .cache/wheels-python; run 'make python-wheel'" >&2; return 1; }
  work="$(mktemp -d)"
  install_from_index "${wheels[0]}"
}

# Uploads wheels and sdists to a local PyPI; installs rmqproducer from it in fresh venvs (a wheel,
# then the sdist if one was given) and runs the quickstart from each.
install_from_index() {
  local files=("$@") file port index sdist=
  dist_registry_tools
  port="$(dist_free_port)"
  index="http://127.0.0.1:$port"
  mkdir -p "$work/registry"
  # No authentication: anyone on loopback may upload, as twine would to a private index.
  pypi-server run --host 127.0.0.1 --port "$port" -a . -P . "$work/registry" 2>"$work/pypiserver.log" &
  pid=$!
  trap 'kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
  for _ in $(seq 50); do curl -sf "$index/simple/" >/dev/null && break; sleep 0.2; done
  step "uploading to the local PyPI at $index"
  for file in "${files[@]}"; do
    [[ "$file" != *.tar.gz ]] || sdist="$file"
    curl -sf -F ':action=file_upload' -F "content=@$file" "$index/" >/dev/null \
      || { cat "$work/pypiserver.log" >&2; echo "FAIL: upload of $file" >&2; return 1; }
  done

  step "pip install rmqproducer (a wheel, no compiler) in a fresh venv; the quickstart"
  python3 -m venv "$work/wheel-venv"
  PATH=/usr/bin:/bin CC=false "$work/wheel-venv/bin/pip" install --quiet --disable-pip-version-check \
    --only-binary :all: --index-url "$index/simple/" rmqproducer
  # From /: the tree's bindings/python must not be importable.
  (cd / && dist_quickstart "$work/wheel-venv/bin/python" "$repo/examples/python/quickstart.py")
  # The rest proves what `make dist-python` built (native's one wheel stops here).
  [ -n "$sdist" ] || return 0

  local arm64_wheel site="$work/arm64-site"
  arm64_wheel="$(printf '%s\n' "${files[@]}" | grep -m1 'manylinux.*aarch64' || true)"
  if [ -n "$arm64_wheel" ] && dist_arm64_runner && dist_arm64_python; then
    step "the quickstart from the aarch64 wheel (unpacked, as pip would), on aarch64 CPython under qemu-user"
    python3 -m zipfile -e "$arm64_wheel" "$site"
    (cd / && PYTHONPATH="$site" dist_quickstart "${dist_arm64_python_cmd[@]}" \
      "$repo/examples/python/quickstart.py")
  fi

  # What pip picks for other machines (its --platform), and its refusal where no wheel fits.
  local platform got refusal
  for platform in manylinux2014_aarch64 musllinux_1_2_x86_64 musllinux_1_2_aarch64; do
    "$work/wheel-venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
      --only-binary :all: --platform "$platform" --python-version 3.12 --index-url "$index/simple/" \
      --dest "$work/as-$platform" rmqproducer
    got="$(basename "$(ls "$work/as-$platform"/*.whl)")"
    echo "ok      pip download --platform $platform rmqproducer: $got"
  done
  if refusal="$("$work/wheel-venv/bin/pip" download --disable-pip-version-check --no-deps \
    --only-binary :all: --platform freebsd_14_x86_64 --python-version 3.12 \
    --index-url "$index/simple/" --dest "$work/as-freebsd" rmqproducer 2>&1)"; then
    echo "FAIL: pip found a wheel for freebsd" >&2; return 1
  fi
  echo "ok      pip install on freebsd_14_x86_64 (no compiler) is refused: $(grep -m1 'ERROR' <<<"$refusal")"

  step "pip install rmqproducer from the sdist (Rust and a C compiler needed) in a fresh venv"
  python3 -m venv "$work/sdist-venv"
  "$work/sdist-venv/bin/pip" install --quiet --disable-pip-version-check "${dist_python_tools[0]}"
  "$work/sdist-venv/bin/pip" install --quiet --disable-pip-version-check --no-build-isolation \
    --no-binary rmqproducer --index-url "$index/simple/" rmqproducer
  (cd / && dist_quickstart "$work/sdist-venv/bin/python" "$repo/examples/python/quickstart.py")
}

case "${1:-}" in
  build) shift; build "$@" ;;
  check) check ;;
  native) native ;;
  *) echo "usage: $0 build [TARGET/COMPAT ...] | check | native" >&2; exit 2 ;;
esac
