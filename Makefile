# rmqproducer: the two commands of the README are `make quickstart` and `make test`.

REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
CARGO ?= cargo
PREFIX ?= /usr/local
CLUSTER := $(REPO)/tests/cluster/rmq-cluster
# The launcher's cluster for tests and the quickstart; another base runs beside it.
export RMQ_PORT_BASE ?= 19876

.PHONY: all quickstart test test-topologies test-deployments test-matrix lint rust-test cluster-up cluster-down

all: ffi

# The seed example: 1000 messages through the C API, against NAMESRV_ADDR or a local cluster.
quickstart:
	@bash $(REPO)/tests/with-cluster.sh $(MAKE) --no-print-directory quickstart-c

# Every test, against one local cluster started for the whole run and stopped at the end.
test:
	@bash $(REPO)/tests/run-all.sh

# The launcher's deployments beyond today's cluster (master-slave 5.3.3, masters and master-slave
# 4.9.7), each brought up and down in turn on its own base (~5 min on 2 cores; not part of `make test`).
RMQ_TOPOLOGY_PORT_BASE ?= $(shell echo $$(($(RMQ_PORT_BASE) + 2000)))
test-topologies:
	RMQ_TOPOLOGY_PORT_BASE=$(RMQ_TOPOLOGY_PORT_BASE) python3 -m pytest -q -m topology --durations=10 $(REPO)/tests/cluster/test_topologies.py

# The core's tests of each deployment (master/slave, ...), each brought up and down in turn on a
# port base of its own (part of `make test`; RMQ_DEPLOYMENTS="master_slave" picks some).
test-deployments:
	@bash $(REPO)/tests/deployments.sh

# Every suite that sends (Rust core, C, Python, Node) on every deployment of tests/matrix.sh, one
# deployment at a time; RMQ_MATRIX="masters-4.9.7" picks rows, RMQ_MATRIX_SUITES="rust" suites.
test-matrix:
	@bash $(REPO)/tests/matrix.sh

lint: dist-versions
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy -p rmq-core -p rmq-ffi -p rmqproducer-node -p rmqproducer-python --all-targets -- -D warnings
	$(CARGO) clippy -p rmq-core --features opentelemetry --all-targets -- -D warnings

rust-test:
	$(CARGO) test -p rmq-core -p rmq-ffi
	$(CARGO) test -p rmq-core --features opentelemetry --test opentelemetry

cluster-up:
	@$(CLUSTER) up

cluster-down:
	@$(CLUSTER) down

-include $(REPO)/mk/ffi.mk
-include $(REPO)/mk/python.mk
-include $(REPO)/mk/node.mk
-include $(REPO)/mk/bench.mk
-include $(REPO)/mk/fuzz.mk
-include $(REPO)/mk/chaos.mk
-include $(REPO)/mk/dist.mk
