# The producer benchmark (bench/README.md). Included by the top-level Makefile, which defines REPO.
#
#   make bench        build every client, run all cases against the local cluster and the ceiling
#                     broker, write bench/results/ (about 25 minutes on 2 cores)
#   make bench-build  only build the clients
#
# Every cargo build of the bench shares .cache/bench/target (BENCH_TARGET_DIR moves it).
# BENCH_ARGS passes options to bench/bench.py, e.g. BENCH_ARGS="--scale 0.05 --repeat 1" for a
# smoke run, or BENCH_ARGS="--cases 2 --clients ours-rust,java".

BENCH_ARGS ?=

.PHONY: bench bench-build

bench: bench-build
	@py=$(REPO)/.cache/bench/venv/bin/python; [ -x $$py ] || py=python3; \
	$$py $(REPO)/bench/bench.py $(BENCH_ARGS)

bench-build:
	@bash $(REPO)/bench/build.sh
