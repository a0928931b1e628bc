"""Threads: a blocking send releases the GIL, and one producer serves many threads while
others keep the GIL busy."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any, Callable

import pytest

import rmqproducer
from rmqproducer import Message, Producer

Reader = Callable[[str, int], list[Any]]


class GilHog:
    """Threads running pure Python loops, which hold the GIL whenever they can."""

    def __init__(self, threads: int) -> None:
        self.stop = threading.Event()
        self.spins = [0] * threads
        self.threads = [threading.Thread(target=self._spin, args=(n,)) for n in range(threads)]

    def _spin(self, n: int) -> None:
        while not self.stop.is_set():
            for _ in range(1000):
                self.spins[n] += 1

    def __enter__(self) -> GilHog:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


@pytest.mark.cluster
def test_many_threads_share_one_producer_while_others_hold_the_gil(
    producer: Producer, topic: str, stored: Reader
) -> None:
    senders, per_thread = 8, 50
    results: dict[str, bytes] = {}
    failures: list[BaseException] = []
    lock = threading.Lock()

    def send_all(n: int) -> None:
        try:
            for i in range(per_thread):
                body = f"thread {n} message {i}".encode()
                result = producer.send(Message(topic, body))
                with lock:
                    results[result.msg_id] = body
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    with GilHog(threads=3) as hog:
        threads = [threading.Thread(target=send_all, args=(n,)) for n in range(senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "senders are stuck"
    assert not failures, failures
    assert all(spins > 0 for spins in hog.spins)
    assert len(results) == senders * per_thread
    assert {m.msg_id: m.body for m in stored(topic, len(results))} == results


def test_a_blocking_send_releases_the_gil(silent_namesrv: str) -> None:
    # A name server that never answers keeps send() waiting for its whole timeout; meanwhile
    # another Python thread must keep running.
    with Producer("py_gil", silent_namesrv, send_timeout_ms=1500, client_api_timeout_ms=1500) as p:
        counter = [0]
        stop = threading.Event()

        def count() -> None:
            while not stop.is_set():
                counter[0] += 1

        counting = threading.Thread(target=count)
        counting.start()
        time.sleep(0.05)
        before = counter[0]
        started = time.monotonic()
        with pytest.raises(rmqproducer.RmqError):
            p.send(Message("PyGilTopic", b"x"))
        waited = time.monotonic() - started
        during = counter[0] - before
        stop.set()
        counting.join()
    assert waited > 0.5
    assert during > 100_000, f"the counting thread ran only {during} times in {waited:.1f}s"


def test_ctrl_c_interrupts_a_blocking_send(silent_namesrv: str) -> None:
    # The send would wait 10 s for a name server that never answers; SIGINT must not wait.
    with Producer("py_sigint", silent_namesrv, send_timeout_ms=10_000, client_api_timeout_ms=10_000) as p:
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        started = time.monotonic()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            p.send(Message("PyTopic", b"x"))
        assert time.monotonic() - started < 3
        timer.join()
