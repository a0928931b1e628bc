# The Node binding (bindings/node, npm package `rmqproducer`). Included by the top-level
# Makefile, which sets REPO to the repository root. `make node-test` uses the cluster at
# NAMESRV_ADDR, or brings one up for the run (tests/with-cluster.sh) and stops it afterwards.

NODE_DIR := $(REPO)/bindings/node
NODE_DEPS := $(NODE_DIR)/node_modules/.package-lock.json

.PHONY: node-build node-drift node-test node-test-send-path node-pack-smoke node-quickstart

# npm writes node_modules/.package-lock.json on install: a stamp newer than the lock file.
# Not `npm ci`: npm 11 refuses this lock file for the other platforms' optional packages of
# @napi-rs/cli's dependencies even when freshly generated; `install --no-save` follows the lock
# and leaves it as committed.
$(NODE_DEPS): $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm install --no-audit --no-fund --no-save

# The Cargo profile of the addon: release, except for the tests (see Cargo.toml).
NODE_PROFILE ?= release

# The .node addon, plus the loader index.js and the typings index.d.ts (both committed).
node-build: $(NODE_DEPS)
	cd $(NODE_DIR) && npx napi build --platform --strip --profile $(NODE_PROFILE)

# A build must leave the committed loader and typings as they are.
node-drift: node-build
	@git -C $(REPO) diff --exit-code -- bindings/node/index.js bindings/node/index.d.ts \
	  || { echo "bindings/node: index.js/index.d.ts are stale; commit the regenerated files" >&2; exit 1; }

node-test: NODE_PROFILE = bindings-test
# One cluster for the tests and the pack smoke, stopped afterwards if started here.
node-test: node-drift
	cd $(NODE_DIR) && bash $(REPO)/tests/with-cluster.sh \
	  sh -c 'node --test __test__/ && scripts/pack-smoke.sh all'

# The send path alone (every send form, batches, queue selection), on the addon node-build made:
# make test-matrix builds it once and runs this on every deployment.
node-test-send-path:
	cd $(NODE_DIR) && node --test __test__/send.test.mjs __test__/batch.test.mjs __test__/queues.test.mjs

node-pack-smoke: node-build
	$(NODE_DIR)/scripts/pack-smoke.sh all

node-quickstart: node-build
	$(NODE_DIR)/scripts/pack-smoke.sh quickstart
