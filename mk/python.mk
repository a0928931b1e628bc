# Python bindings (bindings/python): build the abi3 wheel from source, install it with pip into a
# fresh virtual environment, and run the tests against that installed wheel.
# Included from the top-level Makefile, which defines REPO (the repository root).
#
#   make python-test          the tests, against NAMESRV_ADDR or else a local cluster started for them
#   make python-test-send-path  the send path alone, on the installed wheel (make test-matrix)
#   make python-quickstart    examples/python/quickstart.py, the same way
#   make python-lint          clippy of the binding crate, mypy --strict of the package and tests
#   make python-test PYTHON=python3.9   tests the same abi3 wheel under another interpreter

PYTHON ?= python3
CARGO ?= cargo
PY_VENV := $(REPO)/.cache/venv-python
PY_WHEELS := $(REPO)/.cache/wheels-python
PY_BIN := $(PY_VENV)/bin
PY_TOOLS := 'maturin>=1.9.4,<2' 'pytest>=8' 'pytest-asyncio>=0.24' 'pytest-timeout>=2' 'mypy>=1.11' \
	'prometheus-client>=0.20'
# The Cargo profile of the wheel: release, except for the tests (see Cargo.toml).
PY_PROFILE ?= release

.PHONY: python-venv python-wheel python-test python-test-send-path python-quickstart python-lint

# Deleted and recreated every time, so that nothing but the wheel provides rmqproducer.
python-venv:
	rm -rf $(PY_VENV)
	$(PYTHON) -m venv $(PY_VENV)
	$(PY_BIN)/python -m pip install --quiet --disable-pip-version-check $(PY_TOOLS)

python-wheel: python-venv
	rm -rf $(PY_WHEELS)
	$(PY_BIN)/maturin build --profile $(PY_PROFILE) --strip --interpreter $(PY_BIN)/python \
		--manifest-path $(REPO)/bindings/python/Cargo.toml --out $(PY_WHEELS)
	$(PY_BIN)/python -m pip install --quiet --disable-pip-version-check $(PY_WHEELS)/rmqproducer-*.whl

# Run from inside the venv directory with importlib import mode: the source tree is not on
# sys.path, so `import rmqproducer` can only find the installed wheel.
PY_PYTEST := cd $(PY_VENV) && bash $(REPO)/tests/with-cluster.sh $(PY_BIN)/python -m pytest \
	-c $(REPO)/bindings/python/pyproject.toml --rootdir $(REPO)/bindings/python \
	--import-mode=importlib -p no:cacheprovider --timeout=300
python-test: PY_PROFILE = bindings-test
python-test: python-wheel
	$(PY_PYTEST) $(REPO)/bindings/python/tests

# The send path alone (every send form, queue selection, batches), on the wheel python-wheel
# installed: make test-matrix builds it once and runs this on every deployment.
python-test-send-path:
	$(PY_PYTEST) $(addprefix $(REPO)/bindings/python/tests/,test_send.py test_queues.py)

python-quickstart: python-wheel
	bash $(REPO)/tests/with-cluster.sh $(PY_BIN)/python $(REPO)/examples/python/quickstart.py

python-lint: python-wheel
	$(CARGO) clippy -p rmqproducer-python --all-targets -- -D warnings
	cd $(PY_VENV) && $(PY_BIN)/python -m mypy --strict -p rmqproducer
	cd $(REPO)/bindings/python/tests && $(PY_BIN)/python -m mypy --strict --cache-dir=/dev/null .
