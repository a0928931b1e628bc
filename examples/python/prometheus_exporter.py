"""Serves a producer's statistics to Prometheus with prometheus_client, while it sends.

    pip install rmqproducer prometheus-client
    NAMESRV_ADDR=127.0.0.1:9876 python examples/python/prometheus_exporter.py --port 8000

A collector reads ``producer.stats()`` at each scrape of http://localhost:8000/metrics, so the
numbers are never older than the scrape: ``rocketmq_producer_sends_total`` by form and outcome,
the other counters and gauges, and ``rocketmq_send_cost_time_ms`` (a histogram per broker, the
5.x clients' buckets). The producer sends one message every ``--interval`` seconds, ``--count``
of them (0: until interrupted).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import (
    REGISTRY,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from rmqproducer import Message, Producer, RmqError

COUNTERS = {
    "attempts": "Requests sent to brokers, retries included",
    "retries": "Attempts after a send's first",
    "bytes_sent": "Message body bytes of every attempt",
    "backpressure_waits": "Async calls that waited for room",
    "backpressure_refusals": "Async calls refused with TOO_MANY_REQUESTS",
    "route_refreshes": "Route lookups asked of the name servers",
    "route_refresh_failures": "Route lookups that failed",
    "connections_opened": "Connections opened",
    "connections_lost": "Connections lost without the client closing them",
}
GAUGES = {
    "in_flight": "Async calls whose callbacks have not returned",
    "in_flight_bytes": "Body bytes of those calls",
}
LATENCY_BUCKETS_MS = ["1", "5", "10", "20", "50", "200", "500"]


class ProducerCollector(Collector):
    """Prometheus metrics from one producer's ``stats()``, labelled with its group."""

    def __init__(self, producer: Producer) -> None:
        self._producer = producer

    def collect(self) -> Iterator[Metric]:
        stats: dict[str, Any] = self._producer.stats()
        group = self._producer.group
        sends = CounterMetricFamily(
            "rocketmq_producer_sends", "Sends that ended, by form and outcome",
            labels=["group", "form", "outcome"],
        )
        for form, outcomes in stats["sends"].items():
            for outcome, count in outcomes.items():
                sends.add_metric([group, form, outcome], count)
        yield sends
        for name, help_text in COUNTERS.items():
            counter = CounterMetricFamily(f"rocketmq_producer_{name}", help_text, labels=["group"])
            counter.add_metric([group], stats[name])
            yield counter
        for name, help_text in GAUGES.items():
            gauge = GaugeMetricFamily(f"rocketmq_producer_{name}", help_text, labels=["group"])
            gauge.add_metric([group], stats[name])
            yield gauge
        isolated = GaugeMetricFamily(
            "rocketmq_producer_isolated_brokers", "Brokers the fault strategy avoids now",
            labels=["group"],
        )
        isolated.add_metric([group], len(stats["isolated_brokers"]))
        yield isolated
        latency = HistogramMetricFamily(
            "rocketmq_send_cost_time_ms", "How long each send attempt took, by broker",
            labels=["group", "broker"],
        )
        for broker, histogram in stats["send_latency_ms"].items():
            buckets = list(zip(LATENCY_BUCKETS_MS, histogram["buckets"]))
            buckets.append(("+Inf", histogram["count"]))
            latency.add_metric([group, broker], buckets, histogram["sum_ms"])
        yield latency


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", default="TopicTest")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--count", type=int, default=0, help="messages to send; 0: no end")
    parser.add_argument("--interval", type=float, default=0.1)
    args = parser.parse_args()

    with Producer("prometheus_example_group") as producer:
        REGISTRY.register(ProducerCollector(producer))
        start_http_server(args.port)
        print(f"serving http://127.0.0.1:{args.port}/metrics", flush=True)
        sent = 0
        while args.count == 0 or sent < args.count:
            try:
                producer.send(Message(args.topic, f"Hello Prometheus {sent}"))
            except RmqError as error:
                print(f"send {sent} failed: {error}", flush=True)
            sent += 1
            time.sleep(args.interval)
        print(f"sent {sent}", flush=True)
        # Scrapes may still come: keep serving until interrupted.
        while True:
            time.sleep(3600)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        raise SystemExit(0) from None
