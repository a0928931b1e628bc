# The chaos test of issue 14 (tests/chaos/README.md): drivers in every language under a seeded
# nemesis, a checker over their histories and the Java reader's read-back. Included by the
# top-level Makefile, which defines REPO.
#
#   make chaos CHAOS_ARGS="--seed 7 --duration 1800 --topology master-slave --chart --report tests/chaos/reports/x"
#   make chaos-short        the ~3-minute run of `make test` (fixed seed, controller deployment);
#                           CHAOS_ARGS adds to its arguments

CHAOS_VENV := $(REPO)/.cache/venv-chaos
CHAOS_ARGS ?=
# The short run: seed, length and deployment fixed, so every CI run sees the same schedule.
CHAOS_SHORT_ARGS := --seed 1 --duration 100 --warmup 15 --settle 15 --topology controller

.PHONY: chaos chaos-short chaos-selftest

# matplotlib draws the report's chart; it lives in a venv of its own.
$(CHAOS_VENV)/bin/python:
	python3 -m venv $(CHAOS_VENV)
	$(CHAOS_VENV)/bin/pip install -q matplotlib==3.9.2

chaos: $(CHAOS_VENV)/bin/python
	$(CHAOS_VENV)/bin/python $(REPO)/tests/chaos/chaos.py --chart $(CHAOS_ARGS)

chaos-short:
	python3 -m pytest -q $(REPO)/tests/chaos/test_checker.py
	python3 $(REPO)/tests/chaos/chaos.py $(CHAOS_SHORT_ARGS) $(CHAOS_ARGS)

# The checker's self-test: the Rust driver fakes one acknowledged message that was never sent,
# then one async send answered twice; each run passes only when the checker reports exactly that.
chaos-selftest:
	@for bug in drop-ack double-answer; do \
	  python3 $(REPO)/tests/chaos/chaos.py --seed 1 --duration 0 --warmup 20 --settle 5 --topology masters --port-base 30876 \
	    --langs rust --rate 200 --inject $$bug || exit 1; \
	done
