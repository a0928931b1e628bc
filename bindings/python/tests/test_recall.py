"""Recall of timer messages (RocketMQ 5.3.2+, brokers with recallMessageEnable=true): a recalled
message is never delivered (the Java reader is the judge), the broker's refusals raise
BrokerError with its code and remark, and a handle that does not decode raises at once."""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING

import pytest

import rmqproducer
from rmqproducer import BrokerError, InvalidArgumentError, InvalidTopicError, Message

if TYPE_CHECKING:
    from conftest import Cluster

pytestmark = pytest.mark.cluster


@pytest.fixture(autouse=True)
def recall_capable(cluster: Cluster) -> None:
    version = json.loads(cluster.run("broker-info", "broker-a"))["version"]
    if version.startswith("V4_"):
        pytest.skip(f"recall: not in RocketMQ {version}")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def timer(topic: str, body: str, due_in_ms: int) -> Message:
    return Message(topic, body, deliver_time_ms=int(time.time() * 1000) + due_in_ms)


def test_recalled_timer_message_is_never_delivered(
    producer: rmqproducer.Producer, cluster: Cluster
) -> None:
    topic, other_topic = unique("PyRecall"), unique("PyRecallOther")
    cluster.create_topic(topic, 2)
    cluster.create_topic(other_topic, 2)
    # The recalled message is due before the kept one: once the kept one is delivered, the
    # recalled one would have been too.
    late = producer.send(timer(topic, "due in 2 s, recalled too late", 2000))
    recalled = producer.send(timer(topic, "due in 5 s, recalled", 5000))
    kept = producer.send(timer(topic, "due in 6 s, kept", 6000))
    assert late.recall_handle and recalled.recall_handle and kept.recall_handle

    assert producer.recall(topic, recalled.recall_handle) == recalled.msg_id
    with pytest.raises(BrokerError) as refused:
        producer.recall(other_topic, kept.recall_handle)
    assert refused.value.response_code == 604
    assert refused.value.remark == "recall failed, topic not match"

    normal = producer.send(Message(topic, "normal"))
    assert normal.recall_handle is None
    level = producer.send(Message(topic, "delay level 1", delay_level=1))
    assert level.recall_handle is None

    expected = {late.msg_id, kept.msg_id, normal.msg_id, level.msg_id}
    stored = {m.msg_id for m in cluster.read_topic(topic, len(expected))}
    assert recalled.msg_id not in stored
    assert stored == expected

    # Long past its due time (the kept message, due later, was delivered).
    with pytest.raises(BrokerError) as refused:
        producer.recall(topic, late.recall_handle)
    assert refused.value.response_code == 604
    assert refused.value.remark == "recall failed, timestamp invalid"


async def test_recall_async(producer: rmqproducer.Producer) -> None:
    topic = unique("PyRecallAsync")
    sent = await producer.send_async(timer(topic, "due in a minute, recalled", 60_000))
    assert sent.recall_handle is not None
    assert await producer.recall_async(topic, sent.recall_handle) == sent.msg_id
    with pytest.raises(InvalidArgumentError, match="recall handle is invalid"):
        await producer.recall_async(topic, "garbage!")


def test_bad_arguments_raise_at_the_call(producer: rmqproducer.Producer) -> None:
    topic = unique("PyRecallArgs")
    for garbage in ["", "garbage!", "aGVsbG8="]:
        with pytest.raises(InvalidArgumentError, match="recall handle is invalid"):
            producer.recall(topic, garbage)
    with pytest.raises(InvalidTopicError):
        producer.recall("bad topic", "djEgVCBiIDEgSUQ=")
