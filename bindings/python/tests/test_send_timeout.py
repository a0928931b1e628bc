"""A timeout per send: a message's ``send_timeout_ms`` replaces the producer's for every send of
it, retries included. Proven against the real cluster with a hung broker (``pause-broker``,
SIGSTOP): each send fails with ``TimeoutError`` at its own timeout, not the producer's."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Callable, Iterator

import pytest

import rmqproducer
from rmqproducer import Message, Producer

if TYPE_CHECKING:
    from conftest import Cluster

pytestmark = pytest.mark.cluster

OWN_TIMEOUT_MS = 1500
# Scheduling margin: far below the producer's own 20 s.
MARGIN_S = 3.0


@pytest.fixture
def patient_producer(namesrv: str, group: str) -> Iterator[Producer]:
    producer = Producer(group, namesrv, send_timeout_ms=20000)
    producer.start()
    yield producer
    producer.shutdown()


def timed_failure(send: Callable[[], object]) -> tuple[float, BaseException]:
    begin = time.monotonic()
    with pytest.raises(rmqproducer.RmqError) as failed:
        send()
    return time.monotonic() - begin, failed.value


def test_every_send_fails_at_its_own_timeout_on_a_hung_broker(
    patient_producer: Producer, cluster: Cluster
) -> None:
    topic = f"OwnTimeoutPy_{uuid.uuid4().hex[:12]}"
    # Only broker-b serves the topic: with it hung, no retry can go elsewhere.
    cluster.run("create-topic", topic, "--queues", "2", "--on", "broker-b")
    patient_producer.send(Message(topic, b"warm"))  # the route and the connection, before the hang

    def message(body: str) -> Message:
        return Message(topic, body, send_timeout_ms=OWN_TIMEOUT_MS)

    async def send_async() -> None:
        await patient_producer.send_async(message("async"))

    cluster.run("pause-broker", "broker-b")
    try:
        outcomes = {
            "sync": timed_failure(lambda: patient_producer.send(message("sync"))),
            "asyncio": timed_failure(lambda: asyncio.run(send_async())),
            "batch": timed_failure(
                lambda: patient_producer.send_batch([message("batch 1"), message("batch 2")])
            ),
        }
    finally:
        cluster.run("resume-broker", "broker-b")
    for form, (took, error) in outcomes.items():
        assert isinstance(error, rmqproducer.TimeoutError), (form, error)
        assert OWN_TIMEOUT_MS / 1000 <= took < OWN_TIMEOUT_MS / 1000 + MARGIN_S, (form, took)


def test_a_send_with_its_own_timeout_is_stored(
    patient_producer: Producer, topic: str, cluster: Cluster
) -> None:
    msg = Message(topic, b"in time", send_timeout_ms=5000)
    assert msg.send_timeout_ms == 5000 and "send_timeout_ms=5000" in repr(msg)
    result = patient_producer.send(msg)
    [stored] = cluster.read_topic(topic, 1)
    assert (stored.msg_id, stored.body) == (result.msg_id, b"in time")
    # Not a property of the message: nothing of it reaches the broker.
    assert not any("timeout" in name.lower() for name in stored.all_properties or {})


@pytest.mark.parametrize("timeout_ms", [0, -1, 86_400_001])
def test_a_send_timeout_out_of_range_is_an_invalid_argument(
    patient_producer: Producer, timeout_ms: int
) -> None:
    msg = Message("OwnTimeoutBad", b"x", send_timeout_ms=timeout_ms)
    with pytest.raises(rmqproducer.InvalidArgumentError, match="send timeout"):
        patient_producer.send(msg)
    with pytest.raises(rmqproducer.InvalidArgumentError, match="send timeout"):
        patient_producer.send_callback(msg, lambda result, error: None)
    msg.send_timeout_ms = None
    assert msg.send_timeout_ms is None
