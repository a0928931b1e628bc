"""The `topology` tests start and stop whole deployments (master/slave groups, other RocketMQ
versions): several minutes on two cores. They run only when asked for (`-m topology`, as
`make test-topologies` does), never in a plain `python3 -m pytest tests/cluster`."""

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "topology: starts and stops its own deployments (make test-topologies)")


def pytest_collection_modifyitems(config, items):
    if config.option.markexpr:
        return
    skipped = [item for item in items if item.get_closest_marker("topology")]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [item for item in items if not item.get_closest_marker("topology")]
