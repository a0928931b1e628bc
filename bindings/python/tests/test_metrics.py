"""Statistics: ``stats()`` and the statistics callback count what the test did on the real
cluster (messages read back by the Java reader); a raising callback is logged once; the
prometheus_client example serves the same numbers."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

from rmqproducer import Message, Producer

if TYPE_CHECKING:
    from conftest import Stored

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "python" / "prometheus_exporter.py"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def eventually(check: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_stats_and_their_callback_count_each_form_of_send(
    namesrv: str, topic: str, stored: Callable[[str, int], list[Stored]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    reported: list[dict[str, Any]] = []
    with Producer(unique("py_stats"), namesrv, statistics_interval_ms=100) as producer:
        producer.set_statistics_callback(reported.append)
        bodies = 0
        for i in range(10):
            body = f"sync {i}".encode()
            bodies += len(body)
            producer.send(Message(topic, body))
        for i in range(3):
            body = f"oneway {i}".encode()
            bodies += len(body)
            producer.send_oneway(Message(topic, body))
        assert len(stored(topic, 13)) == 13

        stats = producer.stats()
        assert stats["sends"] == {"sync": {"SEND_OK": 10}, "oneway": {"WRITTEN": 3}}
        assert (stats["attempts"], stats["retries"], stats["bytes_sent"]) == (13, 0, bodies)
        assert sum(h["count"] for h in stats["send_latency_ms"].values()) == 13
        assert (stats["in_flight"], stats["backpressure_refusals"]) == (0, 0)
        assert stats["connections_opened"] >= 2 and stats["route_refreshes"] >= 1
        assert eventually(lambda: bool(reported) and reported[-1] == producer.stats())

        def broken(_: dict[str, Any]) -> None:
            raise RuntimeError("statistics callback broke")

        with caplog.at_level(logging.ERROR, logger="rmqproducer"):
            producer.set_statistics_callback(broken)
            time.sleep(0.5)
            producer.send(Message(topic, b"after the raise"))
        raised = [r for r in caplog.records if "statistics callback" in r.getMessage()]
        assert len(raised) == 1, [r.getMessage() for r in caplog.records]
        assert producer.stats()["sends"]["sync"] == {"SEND_OK": 11}
    with pytest.raises(TypeError):
        Producer(unique("py_stats_bad"), namesrv).set_statistics_callback(42)  # type: ignore[arg-type]


def test_stats_are_empty_with_metrics_off(namesrv: str, topic: str) -> None:
    with Producer(unique("py_stats_off"), namesrv, enable_metrics=False) as producer:
        producer.send(Message(topic, b"uncounted"))
        stats = producer.stats()
    assert stats["sends"] == {} and stats["attempts"] == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_prometheus_example_serves_the_producers_numbers(
    namesrv: str, topic: str, stored: Callable[[str, int], list[Stored]]
) -> None:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--topic", topic, "--port", str(port), "--count", "5",
         "--interval", "0.05"],
        env={**os.environ, "NAMESRV_ADDR": namesrv},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    sends = (
        'rocketmq_producer_sends_total{form="sync",group="prometheus_example_group",'
        'outcome="SEND_OK"} 5.0'
    )
    scraped = ""

    def scrape() -> bool:
        nonlocal scraped
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
                scraped = page.read().decode()
        except OSError:
            return False
        return sends in scraped

    try:
        assert eventually(scrape, 60), scraped
        assert 'rocketmq_producer_attempts_total{group="prometheus_example_group"} 5.0' in scraped
        assert 'rocketmq_send_cost_time_ms_count{broker=' in scraped
        assert len(stored(topic, 5)) == 5
    finally:
        child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=30)
    assert child.returncode == 0, output
