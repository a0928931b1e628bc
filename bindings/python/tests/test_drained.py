"""A topic drained on every broker (``updateTopic -p 4``, read only): its route has no writable
queue, and every send form fails at once with ``NoRouteError`` naming the topic, each callback
exactly once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Callable, Optional

import pytest

import rmqproducer
from rmqproducer import LocalTransactionState, Message, MessageQueue, Producer, SendResult

if TYPE_CHECKING:
    from conftest import Cluster

pytestmark = pytest.mark.cluster


def drain(cluster: Cluster, topic: str) -> None:
    cluster.create_topic(topic, 4)
    cluster.run(
        "admin", "updateTopic", "-t", topic, "-c", "DefaultCluster", "-r", "4", "-w", "4", "-p", "4"
    )
    deadline = time.monotonic() + 30
    while True:
        perms = [q["perm"] for q in json.loads(cluster.run("route", topic))["queueDatas"]]
        if perms and all(p == 4 for p in perms):
            return
        assert time.monotonic() < deadline, f"the route of {topic} still has perms {perms}"
        time.sleep(0.3)


def assert_no_route(form: str, error: Optional[BaseException], topic: str, took: float) -> None:
    print(f"{form:30} {took * 1000:8.1f} ms {error!r}")
    assert isinstance(error, rmqproducer.NoRouteError), f"{form}: {error!r}"
    assert topic in str(error) and "writable" in str(error), f"{form}: {error}"
    assert took < 5, f"{form} took {took:.1f} s"  # at once, nowhere near the 10 s send timeout


async def test_every_send_form_on_a_drained_topic_fails_with_no_route(
    namesrv: str, group: str, topic: str, cluster: Cluster
) -> None:
    drain(cluster, topic)
    msg = Message(topic, b"to a drained topic")
    queue = MessageQueue(topic, "broker-a", 0)
    with Producer(group, namesrv, send_timeout_ms=10_000) as producer:
        blocking: dict[str, Callable[[], Any]] = {
            "send": lambda: producer.send(msg),
            "send_oneway": lambda: producer.send_oneway(msg),
            "send_batch": lambda: producer.send_batch([msg, msg]),
            "publish_queues": lambda: producer.publish_queues(topic),
            "send_to_queue": lambda: producer.send_to_queue(msg, queue),
            "send_with_selector": lambda: producer.send_with_selector(
                msg, lambda queues, m: len(queues) - 1
            ),
            "send_with_sharding_key": lambda: producer.send_with_sharding_key(msg, "order-1"),
            "request": lambda: producer.request(msg, timeout=10),
        }
        for form, call in blocking.items():
            began = time.monotonic()
            with pytest.raises(rmqproducer.RmqError) as raised:
                call()
            assert_no_route(form, raised.value, topic, time.monotonic() - began)

        awaited: dict[str, Callable[[], Awaitable[Any]]] = {
            "send_async": lambda: producer.send_async(msg),
            "send_batch_async": lambda: producer.send_batch_async([msg, msg]),
            "send_to_queue_async": lambda: producer.send_to_queue_async(msg, queue),
            "send_with_sharding_key_async": lambda: producer.send_with_sharding_key_async(msg, "k"),
            "request_async": lambda: producer.request_async(msg, timeout=10),
        }
        for form, start in awaited.items():
            began = time.monotonic()
            with pytest.raises(rmqproducer.RmqError) as raised:
                await start()
            assert_no_route(form, raised.value, topic, time.monotonic() - began)

        calls: list[tuple[Optional[SendResult], Optional[rmqproducer.RmqError], float]] = []
        called = threading.Event()

        def callback(result: Optional[SendResult], error: Optional[rmqproducer.RmqError]) -> None:
            calls.append((result, error, time.monotonic()))
            called.set()

        began = time.monotonic()
        producer.send_callback(msg, callback)
        assert called.wait(5), "the callback was never called"
        producer.flush()
        time.sleep(0.1)  # time for a second call, if there were one
        assert len(calls) == 1, calls
        result, error, at = calls[0]
        assert result is None
        assert_no_route("send_callback", error, topic, at - began)
        assert producer.in_flight == 0

    local_calls: list[Message] = []

    def local(m: Message, half: SendResult) -> LocalTransactionState:
        local_calls.append(m)
        return LocalTransactionState.COMMIT

    with rmqproducer.TransactionProducer(
        group + "_tx", namesrv, check=lambda check: LocalTransactionState.ROLLBACK
    ) as tx_producer:
        began = time.monotonic()
        with pytest.raises(rmqproducer.RmqError) as raised:
            tx_producer.send_in_transaction(msg, local)
        assert_no_route("send_in_transaction", raised.value, topic, time.monotonic() - began)
    assert local_calls == []
