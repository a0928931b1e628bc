"""Logs: silent by default, forwarded to the `rmqproducer` logger hierarchy when enabled."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

import rmqproducer
from rmqproducer import Message, Producer


@pytest.fixture
def debug_logging() -> Iterator[None]:
    rmqproducer.enable_logging(logging.DEBUG)
    yield
    rmqproducer.enable_logging(logging.WARNING)


def wait_for_records(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    # Records reach Python through the library's delivery thread, shortly after the event.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [r for r in caplog.records if text in r.getMessage()]
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"no record with {text!r}; got {[r.getMessage() for r in caplog.records]}")


def test_silent_by_default(silent_namesrv: str) -> None:
    # A failing producer in a program that configured no logging prints nothing.
    script = textwrap.dedent(
        f"""
        import rmqproducer
        p = rmqproducer.Producer("py_log_silent", {silent_namesrv!r},
                                 send_timeout_ms=500, client_api_timeout_ms=300, retry_times=0)
        with p:
            try:
                p.send(rmqproducer.Message("PyTopic", b"x"))
            except rmqproducer.RmqError:
                pass
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


def test_records_go_to_the_rmqproducer_hierarchy(
    silent_namesrv: str, debug_logging: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="rmqproducer"):
        with Producer("py_log_bridge", silent_namesrv):
            pass
        [record, *_] = wait_for_records(caplog, "producer started")
    assert record.name.startswith("rmqproducer.")
    assert record.levelno == logging.INFO
    assert record.pathname.endswith(".rs") and record.lineno > 0
    assert "py_log_bridge" in record.getMessage()


def test_warnings_reach_the_logger_at_its_default_level(caplog: pytest.LogCaptureFixture) -> None:
    # A name server that refuses connections: the send's route lookup warns.
    with caplog.at_level(logging.WARNING, logger="rmqproducer"):
        with Producer("py_log_warn", "127.0.0.1:1", send_timeout_ms=500, retry_times=0) as p:
            with pytest.raises(rmqproducer.RmqError):
                p.send(Message("PyTopic", b"x"))
        [record, *_] = wait_for_records(caplog, "name server failed")
    assert record.name == "rmqproducer.client.namesrv"
    assert record.levelno == logging.WARNING
    assert "127.0.0.1:1" in record.getMessage()
    assert all(r.levelno >= logging.WARNING for r in caplog.records if r.name.startswith("rmqproducer"))


def test_setting_the_logger_to_debug_is_enough(
    silent_namesrv: str, caplog: pytest.LogCaptureFixture
) -> None:
    # No enable_logging: the logger's level, as a producer is created, decides what is forwarded.
    with caplog.at_level(logging.DEBUG, logger="rmqproducer"):
        with Producer("py_log_follow", silent_namesrv):
            pass
        [record, *_] = wait_for_records(caplog, "producer started")
    assert record.levelno == logging.INFO


def test_async_sends_failed_at_shutdown_are_a_warning(
    silent_namesrv: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="rmqproducer"):
        p = Producer("py_log_shutdown", silent_namesrv, shutdown_timeout_ms=0,
                     send_timeout_ms=30_000, client_api_timeout_ms=30_000)
        p.start()
        p.send_callback(Message("PyTopic", b"x"), lambda r, e: None)
        p.shutdown()
        records = wait_for_records(caplog, "shutdown")
    assert any(r.levelno == logging.WARNING for r in records)


def test_a_raising_filter_is_reported_once_and_sends_go_on() -> None:
    # In its own process: the report is once per process.
    script = textwrap.dedent(
        """
        import logging, sys, time
        import rmqproducer

        reported = []
        sys.unraisablehook = lambda u: reported.append(str(u.exc_value))

        def broken(record):
            raise RuntimeError("filter broke")

        # The logger the name server's warning goes to (a parent's filters do not see it).
        logging.getLogger("rmqproducer.client.namesrv").addFilter(broken)
        failed_sends = 0
        for _ in range(3):
            with rmqproducer.Producer("py_log_raising", "127.0.0.1:1",
                                      send_timeout_ms=500, retry_times=0) as p:
                try:
                    p.send(rmqproducer.Message("PyTopic", b"x"))
                except rmqproducer.RmqError:
                    failed_sends += 1
        deadline = time.monotonic() + 5
        while not reported and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        print(failed_sends, reported)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3 ['filter broke']"
