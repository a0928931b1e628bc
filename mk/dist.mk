# Distribution: what users install, built for Linux x86_64 and aarch64 and proven through local
# registries. Included by the top-level Makefile, which sets REPO. Not part of `make test`: the
# cross builds take minutes each. Every quickstart the checks run sends to NAMESRV_ADDR (or a
# local cluster started for it), and the Java reader then finds its 1000 messages in the store
# through the launcher's cluster at RMQ_PORT_BASE: with NAMESRV_ADDR set, set both alike.
#
#   make dist-python        abi3 wheels (manylinux2014: glibc 2.17+, and musllinux_1_2; x86_64 and
#                           aarch64, built with zig) and the sdist, in build/dist/python
#   make dist-python-check  their tags, architectures and libcs (auditwheel, readelf); a local PyPI
#                           (pypiserver): upload, `pip install rmqproducer` in fresh venvs (the
#                           wheel with no compiler, the sdist from source), the quickstart from
#                           each and from the aarch64 wheel on aarch64 CPython under qemu-user;
#                           what pip picks for other platforms, and its refusal where none fits
#   make dist-c             tarballs of librmqproducer (.so with soname .so.0.<minor>, .a, header,
#                           relocatable rmqproducer.pc, CMake package) for x86_64 and aarch64
#                           Linux (glibc 2.17+, built with cargo-zigbuild), in build/dist/c
#   make dist-c-check       their architectures, glibc versions, sonames and exports; the C
#                           quickstart built against each tarball (this machine's with CMake and
#                           with pkg-config; aarch64's with zig, run under qemu-user)
#   make dist-node          npm packages in napi-rs's per-platform layout: `rmqproducer` and one
#                           package per Linux target (x64/arm64, glibc 2.17+/musl, cross-built
#                           with zig), in build/dist/node
#   make dist-node-check    their architectures and libcs; a local npm registry (verdaccio):
#                           publish, `npm install rmqproducer` in fresh folders (no compiler; the
#                           package npm picks for each --cpu/--libc), the quickstart (and on
#                           aarch64 Node under qemu-user), the refusal of an unsupported platform
#   make dist-versions      every package has the workspace's version (also run by `make lint`)
#   make dist-workflow-check  actionlint (and shellcheck) on .github/workflows/release.yml, which
#                           builds the same and macOS and Windows, and publishes on a v* tag
#   make dist / dist-check  all of the above
#   make dist-native-check  what `make test` proves after its python and node suites: the wheel
#                           `make python-wheel` and the addon `make node-build` made, installed
#                           from the local registries

.PHONY: dist dist-check dist-python dist-python-check dist-c dist-c-check dist-node \
  dist-node-check dist-versions dist-workflow-check dist-native-check

dist: dist-versions dist-python dist-c dist-node

dist-check: dist-workflow-check dist-python-check dist-c-check dist-node-check

dist-workflow-check:
	bash $(REPO)/tests/dist/workflow-check.sh

dist-versions:
	@bash $(REPO)/tests/dist/versions.sh

dist-node: $(NODE_DEPS)
	bash $(REPO)/tests/dist/node-dist.sh build

dist-node-check:
	bash $(REPO)/tests/dist/node-dist.sh check

dist-native-check: $(NODE_DEPS)
	bash $(REPO)/tests/dist/python-dist.sh native
	bash $(REPO)/tests/dist/node-dist.sh native

dist-python:
	bash $(REPO)/tests/dist/python-dist.sh build

dist-python-check:
	bash $(REPO)/tests/dist/python-dist.sh check

dist-c:
	FFI_VERSION=$(FFI_VERSION) FFI_ABI=$(FFI_ABI) bash $(REPO)/tests/dist/c-dist.sh build

dist-c-check:
	FFI_VERSION=$(FFI_VERSION) FFI_ABI=$(FFI_ABI) bash $(REPO)/tests/dist/c-dist.sh check
