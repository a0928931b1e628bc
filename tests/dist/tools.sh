# The distribution's tools, sourced by python-dist.sh and c-dist.sh: maturin, zig (the ziglang
# package), auditwheel and pypiserver from PyPI in .cache/venv-dist, and cargo-zigbuild in
# .cache/cargo-bin. Defines dist_tools, which installs what is missing and puts them on PATH.

dist_venv="$repo/.cache/venv-dist"
dist_zigbuild_root="$repo/.cache/cargo-bin/cargo-zigbuild"
dist_python_tools=('maturin>=1.9.4,<2' 'ziglang>=0.13,<0.18' 'auditwheel>=6' 'pypiserver>=2.1,<3')

dist_tools() {
  if [ ! -x "$dist_venv/bin/pypi-server" ]; then
    echo "== dist: installing ${dist_python_tools[*]} into $dist_venv" >&2
    python3 -m venv "$dist_venv"
    "$dist_venv/bin/pip" install --quiet --disable-pip-version-check "${dist_python_tools[@]}"
  fi
  if [ ! -x "$dist_zigbuild_root/bin/cargo-zigbuild" ]; then
    echo "== dist: installing cargo-zigbuild" >&2
    cargo install cargo-zigbuild --locked --root "$dist_zigbuild_root"
  fi
  # maturin and cargo-zigbuild find zig through the venv's python on PATH.
  export PATH="$dist_zigbuild_root/bin:$dist_venv/bin:$PATH"
}
