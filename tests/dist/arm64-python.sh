# shellcheck shell=bash disable=SC2034,SC2154  # sourced: $repo comes from the caller, the dist_* variables go to it
# An aarch64 CPython 3.11 that runs here under qemu-user, to import and run the aarch64 wheels on
# this x86_64 machine. dist_arm64_python puts Debian bookworm's arm64 python3.11-minimal and
# libpython3.11-stdlib, with the libraries they need, in .cache/arm64-python/sysroot (each .deb
# unpacked with dpkg -x, nothing installed) and sets dist_arm64_python_cmd to the command that runs
# it. The .debs come through an apt of its own (its config, lists, cache and an empty dpkg status
# in .cache/arm64-python/apt, removed after): the system's apt sources and dpkg's architectures
# are left as they are, and the packages are still checked against Debian's archive keyring.
# Needs apt-get and dpkg (Debian), deb.debian.org and qemu-aarch64 (the caller checks that).

dist_arm64_python_dir="$repo/.cache/arm64-python"
dist_arm64_python_suite=bookworm
# apt resolves the rest (libc6, libssl3, libffi8, ...). install-info is named because
# readline-common needs dpkg | install-info: the small one keeps dpkg and tar out of the sysroot.
dist_arm64_python_packages=(python3.11-minimal libpython3.11-stdlib install-info)

dist_arm64_python() {
  local sysroot="$dist_arm64_python_dir/sysroot"
  if [ ! -x "$sysroot/usr/bin/python3.11" ]; then
    echo "== dist: downloading Debian $dist_arm64_python_suite's arm64 python3.11 into $sysroot" >&2
    dist_arm64_python_sysroot "$sysroot" || return 1
  fi
  # Python finds its stdlib from where the binary is (no PYTHONHOME); the host's PYTHONHOME and
  # user site-packages would bring in x86_64 modules, PYTHONPATH and the rest pass through.
  dist_arm64_python_cmd=(qemu-aarch64 -L "$sysroot" -U PYTHONHOME -E PYTHONNOUSERSITE=1
    "$sysroot/usr/bin/python3.11")
}

# Downloads and unpacks into a fresh folder, moved to $1 only when complete.
dist_arm64_python_sysroot() {
  local sysroot="$1" apt="$dist_arm64_python_dir/apt" log="$dist_arm64_python_dir/apt.log"
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg tmp="$1.tmp" deb suite
  if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null || [ ! -r "$keyring" ]; then
    echo "dist_arm64_python: needs apt-get, dpkg and $keyring (a Debian machine)" >&2
    return 1
  fi
  rm -rf "$apt" "$tmp"
  mkdir -p "$apt/empty" "$apt/dpkg" "$apt/lists/partial" "$apt/archives/partial" "$tmp" || return 1
  : >"$apt/dpkg/status"
  for suite in "$dist_arm64_python_suite" "$dist_arm64_python_suite-updates"; do
    echo "deb [arch=arm64 signed-by=$keyring] http://deb.debian.org/debian $suite main"
  done >"$apt/sources.list"
  echo "deb [arch=arm64 signed-by=$keyring] http://deb.debian.org/debian-security" \
    "$dist_arm64_python_suite-security main" >>"$apt/sources.list"
  # Read first through APT_CONFIG, so none of the system's apt.conf.d applies.
  cat >"$apt/apt.conf" <<EOF
Dir::Etc::main "/dev/null";
Dir::Etc::parts "$apt/empty";
Dir::Etc::sourcelist "$apt/sources.list";
Dir::Etc::sourceparts "$apt/empty";
Dir::Etc::preferences "/dev/null";
Dir::Etc::preferencesparts "$apt/empty";
Dir::State::lists "$apt/lists";
Dir::State::status "$apt/dpkg/status";
Dir::Cache "$apt";
Dir::Cache::archives "$apt/archives";
Dir::Log "$apt";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
APT::Install-Recommends "false";
APT::Sandbox::User "root";
APT::Update::Error-Mode "any";
Acquire::Languages "none";
EOF
  if ! { APT_CONFIG="$apt/apt.conf" apt-get update &&
    APT_CONFIG="$apt/apt.conf" apt-get install -y --download-only \
      "${dist_arm64_python_packages[@]}"; } >"$log" 2>&1; then
    tail -n 15 "$log" >&2
    echo "dist_arm64_python: could not download the arm64 packages from deb.debian.org" \
      "(apt's output in $log)" >&2
    rm -rf "$tmp" "$apt"
    return 1
  fi
  : >"$dist_arm64_python_dir/packages.txt"
  for deb in "$apt"/archives/*.deb; do
    dpkg -x "$deb" "$tmp" || { echo "dist_arm64_python: could not unpack $deb" >&2; return 1; }
    # shellcheck disable=SC2016 # dpkg-deb's fields, not the shell's
    dpkg-deb --show --showformat='${Package} ${Version} ${Architecture}\n' "$deb" \
      >>"$dist_arm64_python_dir/packages.txt"
  done
  if [ ! -x "$tmp/usr/bin/python3.11" ]; then
    echo "dist_arm64_python: no usr/bin/python3.11 in the unpacked packages" >&2
    return 1
  fi
  rm -rf "$sysroot" && mv "$tmp" "$sysroot" && rm -rf "$apt" "$log" || return 1
  # Debian ships the stdlib without .pyc (its postinst compiles them): compiled once here, each
  # start under qemu takes about 1 s instead of 3.
  echo "== dist: compiling the arm64 python3.11's stdlib" >&2
  qemu-aarch64 -L "$sysroot" "$sysroot/usr/bin/python3.11" -m compileall -q -j0 \
    "$sysroot/usr/lib/python3.11" >/dev/null ||
    echo "dist_arm64_python: compiling the stdlib failed; it runs, only slower" >&2
}
