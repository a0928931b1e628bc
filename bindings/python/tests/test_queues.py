"""Sends to a chosen queue (explicit, selector, sharding key) and batches, against the real
cluster; where each message landed is read back with the cluster's own (Java) reader, and the
sharding key is compared with the official Java client's choice for the same key."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

import rmqproducer
from rmqproducer import Message, MessageQueue, Producer, SendStatus

if TYPE_CHECKING:
    from conftest import Cluster

pytestmark = pytest.mark.cluster

SHARDING_KEYS = ["order-1", "order-2", "customer-42", "clé-é", "polygenelubricants", "z"]


def java_queue_for_key(cluster: Cluster, topic: str, key: str) -> tuple[str, int]:
    """Where the official Java client puts a message sent with `--sharding-key key`."""
    sent = json.loads(cluster.run("send", topic, f"java {key}", "--sharding-key", key).strip())
    assert sent["status"] == "SEND_OK", sent
    return sent["brokerName"], sent["queueId"]


@pytest.fixture
def queued_topic(cluster: Cluster, topic: str) -> str:
    """A topic with 4 queues on each group (two masters, or one controller group)."""
    cluster.create_topic(topic, 4)
    return topic


async def test_explicit_queue_selector_and_sharding_key_land_where_asked(
    producer: Producer, queued_topic: str, cluster: Cluster
) -> None:
    topic = queued_topic
    queues = producer.publish_queues(topic)
    assert [(q.topic, q.broker_name, q.queue_id) for q in queues] == [
        (topic, broker, queue_id) for broker in cluster.brokers_of(topic) for queue_id in range(4)
    ]
    assert queues[0] == MessageQueue(topic, "broker-a", 0)
    assert repr(queues[0]) == f"MessageQueue(topic='{topic}', broker_name='broker-a', queue_id=0)"

    expected: dict[str, MessageQueue] = {}
    for target in (queues[-2], MessageQueue(topic, "broker-a", 1)):
        result = producer.send_to_queue(Message(topic, b"explicit"), target)
        assert result.status == SendStatus.SEND_OK and result.queue == target
        expected[result.msg_id] = target

    seen: list[tuple[int, str | None]] = []

    def last_queue(offered: list[MessageQueue], msg: Message) -> int:
        seen.append((len(offered), msg.tags))
        return len(offered) - 1

    result = producer.send_with_selector(Message(topic, b"selected", tags="last"), last_queue)
    assert seen == [(len(queues), "last")] and result.queue == queues[-1]
    expected[result.msg_id] = queues[-1]

    result = await producer.send_to_queue_async(Message(topic, b"async explicit"), queues[3])
    assert result.queue == queues[3]
    expected[result.msg_id] = queues[3]

    for key in SHARDING_KEYS:
        java_broker, java_queue = java_queue_for_key(cluster, topic, key)
        ours = producer.send_with_sharding_key(Message(topic, f"python {key}"), key)
        assert (ours.queue.broker_name, ours.queue.queue_id) == (java_broker, java_queue), key
        again = await producer.send_with_sharding_key_async(Message(topic, f"async {key}"), key)
        assert again.queue == ours.queue, key
        expected[ours.msg_id] = ours.queue
        expected[again.msg_id] = again.queue

    stored = cluster.by_msg_id(topic, len(expected) + len(SHARDING_KEYS))
    for msg_id, queue in expected.items():
        found = stored[msg_id]
        assert (found.broker_name, found.queue_id) == (queue.broker_name, queue.queue_id), msg_id


def test_bad_queue_choices_are_invalid_argument_errors(producer: Producer, topic: str) -> None:
    producer.send(Message(topic, b"creates the topic"))
    count = len(producer.publish_queues(topic))

    with pytest.raises(rmqproducer.InvalidArgumentError, match=f"index {count}"):
        producer.send_with_selector(Message(topic, b"x"), lambda qs, _: len(qs))
    with pytest.raises(rmqproducer.InvalidArgumentError, match="index -1"):
        producer.send_with_selector(Message(topic, b"x"), lambda qs, _: -1)
    with pytest.raises(rmqproducer.InvalidArgumentError, match="not an int") as caught:
        producer.send_with_selector(Message(topic, b"x"), lambda qs, _: "first")  # type: ignore[arg-type,return-value]

    def broken(queues: list[MessageQueue], msg: Message) -> int:
        raise ZeroDivisionError("selector bug")

    with pytest.raises(rmqproducer.InvalidArgumentError, match="selector bug") as caught:
        producer.send_with_selector(Message(topic, b"x"), broken)
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    with pytest.raises(TypeError):
        producer.send_with_selector(Message(topic, b"x"), 3)  # type: ignore[arg-type]

    foreign = MessageQueue("OtherTopic", "broker-a", 0)
    with pytest.raises(rmqproducer.InvalidArgumentError, match="OtherTopic"):
        producer.send_to_queue(Message(topic, b"x"), foreign)
    with pytest.raises(rmqproducer.InvalidTopicError):
        producer.publish_queues("bad topic!")


async def test_batches_sync_and_async_store_every_message(
    producer: Producer, topic: str, cluster: Cluster
) -> None:
    sync = [
        Message(topic, f"sync {i}", tags="Batch", keys=f"key-{i}", properties={"index": str(i)})
        for i in range(30)
    ]
    result = producer.send_batch(sync)
    assert result.ok and len(result.msg_ids) == 30 and len(set(result.msg_ids)) == 30
    assert len(result.offset_msg_ids) == 30 and result.msg_id == ",".join(result.msg_ids)

    asynchronous = (Message(topic, f"async {i}", tags="Batch") for i in range(10))
    async_result = await producer.send_batch_async(asynchronous)
    assert async_result.ok and len(async_result.msg_ids) == 10

    stored = cluster.by_msg_id(topic, 40)
    assert len(stored) == 40
    for i, msg_id in enumerate(result.msg_ids):
        found = stored[msg_id]
        assert (found.body, found.tags, found.keys) == (f"sync {i}".encode(), "Batch", f"key-{i}")
        assert found.properties["index"] == str(i)
        assert (found.broker_name, found.queue_id) == (
            result.queue.broker_name,
            result.queue.queue_id,
        )
    for i, msg_id in enumerate(async_result.msg_ids):
        assert stored[msg_id].body == f"async {i}".encode()


async def test_batch_rules_raise_typed_errors(producer: Producer, topic: str) -> None:
    mixed = [Message(topic, b"a"), Message(topic + "_other", b"b")]
    delayed = [Message(topic, b"a"), Message(topic, b"b", delay_level=2)]
    big = [Message(topic, b"x" * (3 * 1024 * 1024)) for _ in range(2)]
    for msgs, cls in [
        (mixed, rmqproducer.InvalidMessageError),
        (delayed, rmqproducer.InvalidMessageError),
        (big, rmqproducer.MessageTooLargeError),
        ([], rmqproducer.InvalidArgumentError),
    ]:
        with pytest.raises(cls):
            producer.send_batch(msgs)
        with pytest.raises(cls):
            await producer.send_batch_async(msgs)
    with pytest.raises(TypeError):
        producer.send_batch([Message(topic, b"a"), b"not a message"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        producer.send_batch(42)  # type: ignore[arg-type]
