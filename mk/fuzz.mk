# Fuzzing the core's decoders of untrusted bytes: the cargo-fuzz targets of rmq-core/fuzz
# (libFuzzer, nightly toolchain). Included by the top-level Makefile, which defines CARGO and REPO.
#
#   make fuzz                                   every target for FUZZ_SECONDS (600) each, in turn
#   make fuzz FUZZ_TARGETS="route frame" FUZZ_SECONDS=60
#
# Each run prints the target's execs/s and total execs. A crash fails the run; its input is kept in
# rmq-core/fuzz/artifacts/<target>/ (`cargo fuzz fmt <target> <input>` shows it).

CARGO_FUZZ_VERSION := 0.13.2
# Installed per version, so changing the pin installs the new one.
CARGO_FUZZ_ROOT := $(REPO)/.cache/cargo-bin/cargo-fuzz-$(CARGO_FUZZ_VERSION)
# libFuzzer's instrumentation takes nightly flags.
CARGO_FUZZ := RUSTUP_TOOLCHAIN=nightly $(CARGO_FUZZ_ROOT)/bin/cargo-fuzz
FUZZ_DIR := $(REPO)/rmq-core/fuzz
FUZZ_SECONDS ?= 600
# Empty: every target of rmq-core/fuzz/Cargo.toml.
FUZZ_TARGETS ?=

.PHONY: fuzz

$(CARGO_FUZZ_ROOT)/bin/cargo-fuzz:
	$(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root $(CARGO_FUZZ_ROOT)

# One target at a time with one job: others measure on this machine. With -jobs libFuzzer writes
# its output to fuzz-0.log in its working directory, so each target runs in a logs/ folder of its
# own, and the stat:: lines of -print_final_stats are read from there.
fuzz: $(CARGO_FUZZ_ROOT)/bin/cargo-fuzz
	@set -e; cd $(REPO)/rmq-core; \
	targets="$(FUZZ_TARGETS)"; [ -n "$$targets" ] || targets=$$($(CARGO_FUZZ) fuzz list); \
	$(CARGO_FUZZ) fuzz build; \
	failed=; \
	for target in $$targets; do \
	  logs=$(FUZZ_DIR)/logs/$$target; rm -rf $$logs; mkdir -p $$logs; \
	  echo "== fuzz $$target for $(FUZZ_SECONDS) s"; \
	  status=0; \
	  (cd $$logs && $(CARGO_FUZZ) fuzz run --fuzz-dir $(FUZZ_DIR) $$target -- \
	      -max_total_time=$(FUZZ_SECONDS) -jobs=1 -workers=1 -print_final_stats=1 -timeout=20 \
	      >$$logs/run.log 2>&1) || status=$$?; \
	  execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$logs/fuzz-0.log); \
	  rate=$$(sed -n 's/^stat::average_exec_per_sec: *//p' $$logs/fuzz-0.log); \
	  echo "$$target: $${rate:-?} execs/s, $${execs:-?} execs in total"; \
	  if [ $$status -ne 0 ] || grep -q '^==[0-9]*== ERROR\|deadly signal\|panicked at' $$logs/fuzz-0.log; then \
	    echo "$$target FAILED (exit $$status): see $$logs/fuzz-0.log and $(FUZZ_DIR)/artifacts/$$target/"; \
	    failed="$$failed $$target"; \
	  fi; \
	done; \
	[ -z "$$failed" ] || { echo "fuzz targets that crashed:$$failed"; exit 1; }
