# Distribution: what users install, built for Linux x86_64 and aarch64 and proven through local
# registries. Included by the top-level Makefile, which sets REPO. Not part of `make test`: the
# cross builds take minutes each.
#
#   make dist-python        abi3 wheels (manylinux2014: glibc 2.17+, x86_64 and aarch64, built with
#                           zig) and the sdist, in build/dist/python
#   make dist-python-check  their tags and architectures (auditwheel); a local PyPI (pypiserver):
#                           upload, `pip install rmqproducer` in fresh venvs (the wheel with no
#                           compiler, the sdist from source), the quickstart from each
#   make dist-c             tarballs of librmqproducer (.so with soname .so.0.<minor>, .a, header,
#                           relocatable rmqproducer.pc, CMake package) for x86_64 and aarch64
#                           Linux (glibc 2.17+, aarch64 cross-built with cargo-zigbuild), in
#                           build/dist/c
#   make dist-c-check       their architectures, sonames and exports; the C quickstart built from
#                           this machine's tarball with CMake and with pkg-config, each run
#   make dist / dist-check  all of the above

.PHONY: dist dist-check dist-python dist-python-check dist-c dist-c-check

dist: dist-python dist-c

dist-check: dist-python-check dist-c-check

dist-python:
	bash $(REPO)/tests/dist/python-dist.sh build

dist-python-check:
	bash $(REPO)/tests/dist/python-dist.sh check

dist-c:
	FFI_VERSION=$(FFI_VERSION) FFI_ABI=$(FFI_ABI) bash $(REPO)/tests/dist/c-dist.sh build

dist-c-check:
	FFI_VERSION=$(FFI_VERSION) FFI_ABI=$(FFI_ABI) bash $(REPO)/tests/dist/c-dist.sh check
