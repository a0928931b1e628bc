#!/usr/bin/env bash
# The Node distribution, in napi-rs's per-platform layout: the package `rmqproducer` (loader,
# typings, no binary) with optionalDependencies on one package per target, each holding the addon
# for its os, cpu and libc, so that npm installs only the one that fits and no compiler. The Linux
# targets are cross-built here with cargo-zigbuild; macOS and Windows in the release workflow.
#
#   node-dist.sh build [TARGET ...]  packages (default: x86_64 and aarch64 Linux, glibc 2.17+ and
#                                    musl) as npm tarballs in build/dist/node
#   node-dist.sh check [TARGET ...]  each addon's architecture and libc; then a local npm registry
#                                    (verdaccio): publish, `npm install rmqproducer` in fresh
#                                    folders (this machine's package with no compiler, and the
#                                    one npm picks for --cpu/--libc), the quickstart from the first,
#                                    a one-line refusal for an unsupported platform
#   node-dist.sh native              build + check for this machine's target alone, from the addon
#                                    `make node-build` made (by node-test in `make test`), in
#                                    build/dist/native-node: what .ci/run proves
#
# Builds in .cache/dist/target; tools as tests/dist/tools.sh installs them.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=tests/dist/tools.sh
. "$repo/tests/dist/tools.sh"
package_dir="$repo/bindings/node"
out="$repo/build/dist/node"
all_targets=(x86_64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-gnu
  aarch64-unknown-linux-musl)
version="$(node -p "require('$package_dir/package.json').version")"

step() { echo "== node-dist: $*" >&2; }

# napi-rs's name of a target: linux-x64-gnu, linux-arm64-musl.
platform() {
  local arch="${1%%-*}" libc="${1##*-}"
  case "$arch" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; esac
  echo "linux-$arch-$libc"
}

# The addon for a target: cross-built, or (reuse) the one `make node-build` made for this machine.
addon() {
  local target="$1" reuse="$2" zig_target musl_flags=() file
  file="rmqproducer.$(platform "$target").node"
  if [ "$reuse" = reuse ]; then
    [ -f "$package_dir/$file" ] || { echo "FAIL: no addon in bindings/node; run 'make node-build'" >&2; return 1; }
    cp "$package_dir/$file" "$out/stage/artifacts/"
    return
  fi
  dist_tools
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
  zig_target="$target"
  # glibc 2.17, as the manylinux2014 wheels; musl's targets link statically unless told not to,
  # and an addon must be a shared object.
  case "$target" in
    *-gnu) zig_target="$target.2.17" ;;
    *-musl) musl_flags=("CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$target")_RUSTFLAGS=-C target-feature=-crt-static") ;;
  esac
  step "the addon for $target, a release build: a few minutes"
  env "${musl_flags[@]}" CARGO_TARGET_DIR="$dist_target_dir" CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_STRIP=debuginfo cargo zigbuild --release -p rmqproducer-node --target "$zig_target" >&2
  cp "$dist_target_dir/$target/release/librmqproducer_node.so" "$out/stage/artifacts/$file"
  case "$target" in *-musl) dist_name_musl_libc "$out/stage/artifacts/$file" "$target" ;; esac
}

build() {
  local reuse="$1" targets=("${@:2}") target
  [ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
  rm -rf "$out" && mkdir -p "$out/stage/artifacts"
  for target in "${targets[@]}"; do addon "$target" "$reuse"; done

  step "the per-platform packages and the main package"
  # The main package at the stage's root: napi's commands keep to the folder they run in.
  local main="$out/stage" napi="$package_dir/node_modules/.bin/napi"
  (cd "$package_dir" && cp package.json index.js index.mjs index.d.ts README.md "$main/")
  cp "$repo/LICENSE" "$repo/NOTICE" "$main/"
  # What `napi pre-publish` writes at release, for the targets built here: each platform package
  # at the main package's version.
  local built=()
  for target in "${targets[@]}"; do built+=("$(platform "$target")"); done
  TARGETS="${targets[*]}" PLATFORMS="${built[*]}" node - "$main/package.json" "$version" <<'EOF'
const fs = require('fs')
const [file, version] = process.argv.slice(2)
const pkg = JSON.parse(fs.readFileSync(file, 'utf8'))
pkg.napi.targets = process.env.TARGETS.split(' ')
pkg.optionalDependencies = Object.fromEntries(
  process.env.PLATFORMS.split(' ').map((p) => [`rmqproducer-${p}`, version]))
delete pkg.devDependencies
delete pkg.scripts
fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + '\n')
EOF
  { "$napi" create-npm-dirs --cwd "$main" --npm-dir npm \
    && "$napi" artifacts --cwd "$main" --output-dir artifacts --npm-dir npm; } >"$out/napi.log" 2>&1 \
    || { cat "$out/napi.log" >&2; return 1; }
  rm "$out/napi.log"
  # The main package holds no addon: each comes from its platform's package.
  rm -f "$main"/*.node
  for platform_name in "${built[@]}"; do
    cp "$repo/LICENSE" "$out/stage/npm/$platform_name/"
    (cd "$out/stage/npm/$platform_name" && npm pack --silent --pack-destination "$out" >/dev/null)
  done
  (cd "$main" && npm pack --silent --pack-destination "$out" >/dev/null)
  rm -rf "$out/stage"
  ls -l "$out" >&2
}

check_package() {
  local tarball="$1" glibc_ceiling="$2" name addon machine want libc needed
  name="$(basename "$tarball" "-$version.tgz")"
  [ -f "$tarball" ] || { echo "FAIL: no $tarball" >&2; return 1; }
  tar -C "$work/unpacked" -xzf "$tarball" && mv "$work/unpacked/package" "$work/unpacked/$name"
  [ "$(node -p "require('$work/unpacked/$name/package.json').version")" = "$version" ] \
    || { echo "FAIL $tarball: not version $version" >&2; return 1; }
  addon="$(ls "$work/unpacked/$name"/*.node)"
  case "$name" in
    *-x64-*) want="Advanced Micro Devices X86-64" ;;
    *-arm64-*) want="AArch64" ;;
  esac
  machine="$(readelf -h "$addon" | sed -n 's/^ *Machine: *//p')"
  [ "$machine" = "$want" ] || { echo "FAIL $tarball: built for $machine" >&2; return 1; }
  needed="$(readelf -d "$addon" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
  case "$name" in
    *-gnu)
      libc="$(dist_glibc_needed "$addon")"
      [ -z "$glibc_ceiling" ] || dist_glibc_at_most "$addon" "$glibc_ceiling" \
        || { echo "FAIL $tarball: needs $libc, above $glibc_ceiling" >&2; return 1; } ;;
    *-musl)
      libc="musl"
      [[ "$needed" == *libc.musl-* && "$needed" != *libc.so.6* ]] \
        || { echo "FAIL $tarball: links $needed, not musl's libc" >&2; return 1; } ;;
  esac
  echo "ok      $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB): $machine, $libc; needs $needed"
}

check() {
  local reuse="$1" targets=("${@:2}") target
  [ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
  work="$(mktemp -d)" # a global: the EXIT trap reads it
  trap 'kill "${registry_pid:-}" 2>/dev/null; rm -rf "$work"' EXIT
  mkdir -p "$work/unpacked"
  local tarballs=("$out/rmqproducer-$version.tgz")
  for target in "${targets[@]}"; do
    tarballs+=("$out/rmqproducer-$(platform "$target")-$version.tgz")
    # The addon `make node-build` made is built against this machine's glibc.
    check_package "${tarballs[-1]}" "$([ "$reuse" = reuse ] || echo GLIBC_2.17)"
  done
  [ "$reuse" = reuse ] || [ -f "${tarballs[0]}" ] \
    || { echo "FAIL: no ${tarballs[0]}; run 'make dist-node'" >&2; return 1; }

  local registry
  start_registry
  registry="$registry_url"
  step "publishing to the local npm registry at $registry"
  for tarball in "${tarballs[@]}"; do
    npm publish --silent --userconfig "$work/npmrc" --registry "$registry" "$tarball" >/dev/null
  done

  step "npm install rmqproducer in a fresh folder, no compiler; the quickstart"
  install_into "$work/app" >/dev/null
  [ "$(installed_platforms "$work/app")" = "$(platform "$dist_native_target")" ] \
    || { echo "FAIL: installed $(installed_platforms "$work/app")" >&2; return 1; }
  cp "$repo/examples/node/quickstart.js" "$work/app/"
  (cd "$work/app" && dist_quickstart node quickstart.js)

  # npm's --cpu and --libc stand for another machine: npm picks that machine's package.
  local other cpu libc
  for target in "${targets[@]}"; do
    [ "$target" != "$dist_native_target" ] || continue
    other="$(platform "$target")"
    # npm's names for the libcs: glibc and musl.
    cpu="${other#linux-}" cpu="${cpu%-*}" libc="${other##*-}" libc="${libc/#gnu/glibc}"
    install_into "$work/as-$other" --cpu="$cpu" --libc="$libc" >/dev/null
    [ "$(installed_platforms "$work/as-$other")" = "$other" ] \
      || { echo "FAIL: for $other npm installed '$(installed_platforms "$work/as-$other")'" >&2; return 1; }
    echo "ok      npm install --cpu=$cpu --libc=$libc rmqproducer: installs rmqproducer-$other alone"
  done

  if [ -d "$work/as-linux-arm64-gnu" ] && dist_arm64_runner; then
    step "the quickstart from the arm64 install, on aarch64 Node under qemu-user"
    dist_arm64_node
    cp "$repo/examples/node/quickstart.js" "$work/as-linux-arm64-gnu/"
    (cd "$work/as-linux-arm64-gnu" && dist_quickstart "${dist_arm64_run[@]}" "$dist_arm64_node" quickstart.js)
  fi

  # Another machine, as npm's own checks see it: its process.platform or process.arch.
  local refusal as property value
  for as in "platform freebsd" "arch ia32"; do
    read -r property value <<<"$as"
    echo "Object.defineProperty(process, '$property', { value: '$value' })" >"$work/as-$value.cjs"
    if refusal="$(NODE_OPTIONS="--require $work/as-$value.cjs" install_into "$work/on-$value" 2>&1)"; then
      echo "FAIL: npm install on $value succeeded" >&2; return 1
    fi
    refusal="$(grep -m1 'Unsupported platform' <<<"$refusal")" \
      || { echo "FAIL: npm's refusal on $value does not say why: $refusal" >&2; return 1; }
    echo "ok      npm install rmqproducer on $value is refused: ${refusal#npm error notsup }"
  done
}

start_registry() {
  local port
  dist_registry_tools
  port="$(dist_free_port)"
  registry_url="http://127.0.0.1:$port/"
  mkdir -p "$work/registry"
  # Everything served from its own storage: nothing proxied from npmjs.org, so the install proves
  # what was published here.
  cat >"$work/registry/config.yaml" <<EOF
storage: $work/registry/storage
auth:
  htpasswd:
    file: $work/registry/htpasswd
packages:
  '**':
    access: \$all
    publish: \$authenticated
log: { type: stdout, format: pretty, level: warn }
EOF
  verdaccio --config "$work/registry/config.yaml" --listen "127.0.0.1:$port" >"$work/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 100); do curl -sf "$registry_url-/ping" >/dev/null && break; sleep 0.2; done
  # A user, as `npm adduser` makes one; its token publishes.
  local token
  token="$(curl -sf -X PUT -H 'content-type: application/json' \
    -d '{"name":"dist","password":"dist-check"}' "$registry_url-/user/org.couchdb.user:dist" \
    | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).token')" \
    || { cat "$work/registry.log" >&2; echo "FAIL: the local registry did not start" >&2; return 1; }
  echo "//127.0.0.1:$port/:_authToken=$token" >"$work/npmrc"
}

# npm install rmqproducer from the local registry alone, into a fresh folder; no compiler on PATH.
install_into() {
  local dir="$1"
  shift
  mkdir -p "$dir"
  (cd "$dir" && npm init -y >/dev/null \
    && CC=false CXX=false npm install --no-audit --no-fund --loglevel=error \
      --userconfig "$work/npmrc" --registry "$registry_url" --cache "$work/npm-cache" \
      rmqproducer "$@")
}

# The platform packages npm put into a folder.
installed_platforms() {
  (cd "$1/node_modules" && ls -d rmqproducer-* 2>/dev/null | sed 's/^rmqproducer-//' | tr '\n' ' ' \
    | sed 's/ $//')
}

case "${1:-}" in
  build) shift; build cross "$@" ;;
  check) shift; check cross "$@" ;;
  native) out="$repo/build/dist/native-node" && build reuse "$dist_native_target" && check reuse "$dist_native_target" ;;
  *) echo "usage: $0 build [TARGET ...] | check [TARGET ...] | native" >&2; exit 2 ;;
esac
