"""fork(): a producer used in a forked child fails at once with IllegalStateError; it never
hangs. A child forked before the library started its threads works normally."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from typing import Callable

import pytest

import rmqproducer
from rmqproducer import Message, Producer


def wait_for_child(pid: int, timeout: float) -> int:
    """The child's exit code; kills it and fails the test if it is still running at `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung")


def fork() -> int:
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a multi-threaded process: that is the point here.
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


@pytest.mark.cluster
def test_a_started_producer_fails_fast_in_a_forked_child(producer: Producer, topic: str) -> None:
    producer.send(Message(topic, b"parent"))
    pid = fork()
    if pid == 0:
        code = 3
        try:
            producer.send(Message(topic, b"child"))
            code = 1
        except rmqproducer.IllegalStateError as error:
            code = 0 if "fork" in str(error) else 2
        except BaseException:
            code = 2
        finally:
            os._exit(code)
    assert wait_for_child(pid, timeout=20) == 0
    # The parent's producer is unaffected.
    assert producer.send(Message(topic, b"parent again")).ok


def test_every_call_fails_fast_in_a_forked_child() -> None:
    p = Producer("py_fork_calls", "127.0.0.1:9876")
    with pytest.raises(rmqproducer.IllegalStateError):
        p.send(Message("T", b"x"))  # starts the library's runtime in this process
    pid = fork()
    if pid == 0:
        failures = 0
        calls: list[Callable[[], object]] = [
            lambda: p.start(),
            lambda: p.send(Message("T", b"x")),
            lambda: p.send_oneway(Message("T", b"x")),
            lambda: p.send_callback(Message("T", b"x"), lambda r, e: None),
            lambda: Producer("py_fork_new", "127.0.0.1:9876").start(),
            lambda: p.shutdown(),
        ]
        for call in calls:
            try:
                call()
                failures += 1
            except rmqproducer.IllegalStateError:
                pass
            except BaseException:
                failures += 1
        os._exit(min(failures, 100))
    assert wait_for_child(pid, timeout=20) == 0


def test_a_forked_child_exits_normally_after_the_error(silent_namesrv: str) -> None:
    # The child ends through normal interpreter finalization, which drops the parent's producer.
    script = textwrap.dedent(
        f"""
        import os, sys, warnings
        import rmqproducer
        warnings.simplefilter("ignore", DeprecationWarning)
        p = rmqproducer.Producer("py_fork_exit", {silent_namesrv!r})
        p.start()
        pid = os.fork()
        if pid == 0:
            try:
                p.send(rmqproducer.Message("PyTopic", b"x"))
            except rmqproducer.IllegalStateError:
                sys.exit(0)
            sys.exit(1)
        _, status = os.waitpid(pid, 0)
        p.shutdown()
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _child_task(_: int) -> str:
    try:
        Producer("py_fork_pool", "127.0.0.1:9876").start()
        return "started"
    except rmqproducer.RmqError as error:
        return type(error).__name__


def test_multiprocessing_fork_pool_gets_a_clear_error() -> None:
    with pytest.raises(rmqproducer.IllegalStateError):
        Producer("py_fork_pool_parent", "127.0.0.1:9876").send(Message("T", b"x"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with multiprocessing.get_context("fork").Pool(2) as pool:
            outcome = pool.map_async(_child_task, range(2)).get(timeout=30)
    assert outcome == ["IllegalStateError", "IllegalStateError"]


@pytest.mark.cluster
def test_a_child_forked_before_first_use_works(namesrv: str, topic: str) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys
        import rmqproducer
        pid = os.fork()
        if pid == 0:
            try:
                with rmqproducer.Producer("py_fork_fresh_{os.getpid()}", {namesrv!r}) as p:
                    ok = p.send(rmqproducer.Message({topic!r}, b"from child")).ok
                os._exit(0 if ok else 1)
            except BaseException as e:
                print(repr(e), file=sys.stderr)
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        sys.exit(status >> 8)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
