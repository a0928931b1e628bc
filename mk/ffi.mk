# librmqproducer: the C ABI of rmq-ffi (.so and .a), its generated header, its C tests, install and
# the C quickstart. Included by the top-level Makefile, which defines CARGO, PREFIX and REPO.
#
#   make ffi               build target/release/librmqproducer.{so,a}; stage them in build/ffi/lib
#   make ffi-header        regenerate include/rmqproducer.h with the pinned cbindgen
#   make ffi-header-check  fail when the committed header differs from what cbindgen generates
#   make c-test            C tests (ASan, then valgrind), C++ header, install and header-drift checks;
#                          against NAMESRV_ADDR, or a local cluster started for the run
#   make c-test-send-path  the same with only the tests of the send path (C_SEND_PATH_TESTS), no
#                          valgrind: make test-matrix runs it on every deployment
#   make ffi-install       install .so, .a, header, rmqproducer.pc and the CMake package
#                          (lib/cmake/rmqproducer) under $(DESTDIR)$(PREFIX), with librocketmq.so and
#                          include/rocketmq (the C API shim, make ffi-compat)
#   make quickstart-c      build and run examples/c/quickstart.c (same cluster rule as c-test)
#   make ffi-compat        build librocketmq.so in build/ffi/lib: rocketmq-client-cpp's C API
#                          (producer half, headers in include/rocketmq) over librmqproducer

CBINDGEN_VERSION := 0.29.4
# Installed per version, so changing the pin installs the new one.
CBINDGEN_ROOT := $(REPO)/.cache/cargo-bin/cbindgen-$(CBINDGEN_VERSION)-debug
CBINDGEN := $(CBINDGEN_ROOT)/bin/cbindgen

FFI_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' $(REPO)/Cargo.toml | head -n 1)
# The soname's version, as rmq-ffi/build.rs gives it: the major, or 0.<minor> while on 0.x.
FFI_ABI := $(shell echo $(FFI_VERSION) | awk -F. '{ print ($$1 == 0 ? $$1 "." $$2 : $$1) }')
FFI_RELEASE_DIR := $(or $(CARGO_TARGET_DIR),$(REPO)/target)/release
FFI_STAGE := $(REPO)/build/ffi
FFI_LIB_DIR := $(FFI_STAGE)/lib
FFI_HEADER := $(REPO)/include/rmqproducer.h
FFI_PREFIX = $(abspath $(PREFIX))

.PHONY: ffi-compat ffi ffi-header ffi-header-check c-test c-test-send-path ffi-install ffi-dist-install install \
	quickstart-c

# Stages the build in FFI_RELEASE_DIR under FFI_LIB_DIR, with the soname's links.
define ffi_stage
	rm -rf $(FFI_LIB_DIR) && mkdir -p $(FFI_LIB_DIR)
	cp $(FFI_RELEASE_DIR)/librmqproducer.so $(FFI_LIB_DIR)/librmqproducer.so.$(FFI_VERSION)
	ln -s librmqproducer.so.$(FFI_VERSION) $(FFI_LIB_DIR)/librmqproducer.so.$(FFI_ABI)
	ln -s librmqproducer.so.$(FFI_ABI) $(FFI_LIB_DIR)/librmqproducer.so
	cp $(FFI_RELEASE_DIR)/librmqproducer.a $(FFI_LIB_DIR)/
endef

ffi:
	$(CARGO) build --release -p rmq-ffi
	$(ffi_stage)

# For tests/dist/c-dist.sh: stages a build made already (FFI_RELEASE_DIR, e.g. a cross target's)
# in FFI_LIB_DIR and installs it into FFI_INSTALL_DIR.
ffi-dist-install:
	$(ffi_stage)
	$(call ffi_install,$(FFI_INSTALL_DIR),$(FFI_INSTALL_DIR))

# librocketmq.so finds librmqproducer.so next to it ($$ORIGIN), staged or installed.
COMPAT_SOURCE := $(REPO)/compat/c/rocketmq_compat.c
ffi-compat: ffi
	$(CC) -std=c99 -Wall -Wextra -Werror -pedantic -O2 -fPIC -fvisibility=hidden -shared \
	  -I$(REPO)/include -I$(REPO)/include/rocketmq $(COMPAT_SOURCE) \
	  -o $(FFI_LIB_DIR)/librocketmq.so -Wl,-soname,librocketmq.so \
	  -L$(FFI_LIB_DIR) -lrmqproducer -lpthread '-Wl,-rpath,$$ORIGIN'

# $(call compat_install,DIR): installs librocketmq.so and its headers (include/rocketmq) into DIR.
define compat_install
	install -d $(1)/lib $(1)/include/rocketmq
	install -m 0755 $(FFI_LIB_DIR)/librocketmq.so $(1)/lib/
	install -m 0644 $(REPO)/include/rocketmq/*.h $(1)/include/rocketmq/
endef

# A debug build: it compiles in a third of the CPU time of a release one, and runs in a second.
$(CBINDGEN):
	$(CARGO) install cbindgen --debug --version $(CBINDGEN_VERSION) --locked --root $(CBINDGEN_ROOT)

ffi-header: $(CBINDGEN)
	cd $(REPO)/rmq-ffi && $(CBINDGEN) --config cbindgen.toml --crate rmq-ffi --output $(FFI_HEADER)

# Generates into build/ and compares: `cbindgen --verify` would also overwrite the committed header.
ffi-header-check: $(CBINDGEN)
	@mkdir -p $(FFI_STAGE)
	@cd $(REPO)/rmq-ffi && $(CBINDGEN) --quiet --config cbindgen.toml --crate rmq-ffi \
	    --output $(FFI_STAGE)/rmqproducer.h
	@diff -u $(FFI_HEADER) $(FFI_STAGE)/rmqproducer.h \
	  || { echo "include/rmqproducer.h differs from what cbindgen $(CBINDGEN_VERSION) generates" \
	            "(diff above): run 'make ffi-header' and commit it" >&2; exit 1; }
	@echo "include/rmqproducer.h is up to date (cbindgen $(CBINDGEN_VERSION))"

# $(call ffi_install,DIR,PREFIX): installs into DIR a copy whose rmqproducer.pc says PREFIX.
define ffi_install
	install -d $(1)/lib/pkgconfig $(1)/include
	install -m 0755 $(FFI_LIB_DIR)/librmqproducer.so.$(FFI_VERSION) $(1)/lib/
	ln -sf librmqproducer.so.$(FFI_VERSION) $(1)/lib/librmqproducer.so.$(FFI_ABI)
	ln -sf librmqproducer.so.$(FFI_ABI) $(1)/lib/librmqproducer.so
	install -m 0644 $(FFI_LIB_DIR)/librmqproducer.a $(1)/lib/
	install -m 0644 $(FFI_HEADER) $(1)/include/
	sed -e 's|@PREFIX@|$(2)|' -e 's|@VERSION@|$(FFI_VERSION)|' \
	  $(REPO)/rmq-ffi/rmqproducer.pc.in > $(1)/lib/pkgconfig/rmqproducer.pc
	install -d $(1)/lib/cmake/rmqproducer
	for f in rmqproducer-config rmqproducer-config-version; do \
	  sed -e 's|@VERSION@|$(FFI_VERSION)|' -e 's|@ABI@|$(FFI_ABI)|' \
	    $(REPO)/rmq-ffi/$$f.cmake.in > $(1)/lib/cmake/rmqproducer/$$f.cmake; done
endef

c-test: ffi ffi-compat
	rm -rf $(FFI_STAGE)/prefix
	$(call ffi_install,$(FFI_STAGE)/prefix,$(FFI_STAGE)/prefix)
	$(call compat_install,$(FFI_STAGE)/prefix)
	REPO=$(REPO) FFI_LIB_DIR=$(FFI_LIB_DIR) FFI_PREFIX=$(FFI_STAGE)/prefix \
	  FFI_VERSION=$(FFI_VERSION) FFI_ABI=$(FFI_ABI) \
	  RMQ_BROKER_CONF="$${RMQ_BROKER_CONF-$(FFI_TEST_BROKER_CONF)}" \
	  bash $(REPO)/tests/with-cluster.sh $(REPO)/tests/c/run-c-tests.sh

# Every send form, threads and poll mode, shutdown, broker rejections, queue selection, batches,
# delays and compression: what any deployment must do alike.
C_SEND_PATH_TESTS := sync_sends_return_the_full_result binary_bodies_are_stored_byte_exact \
  async_callbacks_run_once_on_a_library_thread poll_mode_runs_callbacks_on_the_polling_thread \
  oneway_sends_are_stored threads_share_one_producer \
  thread_mode_callbacks_may_send_async_but_not_block \
  poll_mode_callbacks_may_call_anything_but_flush_and_shutdown \
  shutdown_delivers_every_outcome_thread shutdown_delivers_every_outcome_poll \
  free_runs_the_callbacks_still_pending broker_rejections_carry_response_code_and_remark \
  explicit_queue_selector_and_sharding_key_land_where_asked \
  batches_sync_and_async_store_every_message delayed_and_timer_messages_are_stored_when_due \
  compression_types_read_back_decompressed

c-test-send-path:
	$(MAKE) --no-print-directory c-test RMQ_C_TEST_SKIP_VALGRIND=1 RMQ_C_TESTS="$(C_SEND_PATH_TESTS)"

# A cluster started for c-test checks half messages quickly, so that the transaction test settles
# its unknown outcomes in seconds rather than a minute (as tests/run-all.sh does).
FFI_TEST_BROKER_CONF := transactionTimeOut=2000;transactionCheckInterval=2000

ffi-install: ffi ffi-compat
	$(call ffi_install,$(DESTDIR)$(FFI_PREFIX),$(FFI_PREFIX))
	$(call compat_install,$(DESTDIR)$(FFI_PREFIX))

install: ffi-install

quickstart-c: ffi
	mkdir -p $(FFI_STAGE)/bin
	$(CC) -std=c99 -Wall -Wextra -Werror -O2 -I$(REPO)/include $(REPO)/examples/c/quickstart.c \
	  -o $(FFI_STAGE)/bin/quickstart -L$(FFI_LIB_DIR) -lrmqproducer -Wl,-rpath,$(FFI_LIB_DIR)
	bash $(REPO)/tests/with-cluster.sh $(FFI_STAGE)/bin/quickstart
