"""Message trace (``enable_msg_trace``) against brokers started with traceTopicEnable=true: Java's
own ``mqadmin queryMsgTraceById`` finds the Pub record of sync, async, batch and transaction
sends; a trace topic that cannot be written fails no send and its lost records are counted."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import pytest

import rmqproducer
from rmqproducer import LocalTransactionState, Message, TransactionProducer

if TYPE_CHECKING:
    from conftest import Cluster

pytestmark = pytest.mark.cluster


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def pub_row(cluster: Cluster, msg_id: str) -> list[str]:
    """The Pub row Java prints for ``msg_id``, once the broker has indexed the trace message."""
    deadline = time.monotonic() + 60
    while True:
        for line in cluster.run("admin", "queryMsgTraceById", "-i", msg_id).splitlines():
            if line.startswith("Pub "):
                return line.split()
        assert time.monotonic() < deadline, f"no Pub trace row for {msg_id}"
        time.sleep(1)


def assert_traced(cluster: Cluster, msg_id: str, group: str) -> None:
    # Pub, group, client host, date, time, cost, status
    row = pub_row(cluster, msg_id)
    assert row[1] == group and row[5].endswith("ms") and row[6] == "success", row


async def test_sync_async_batch_and_transaction_sends_are_traced(
    namesrv: str, cluster: Cluster
) -> None:
    topic, group, tx_group = unique("PyTrace"), unique("py_trace"), unique("py_trace_tx")
    cluster.create_topic(topic, 2)
    producer = rmqproducer.Producer(group, namesrv, enable_msg_trace=True)
    producer.start()
    sync = producer.send(Message(topic, b"sync", tags="TagA", keys=["order-1"]))
    sent_async = await producer.send_async(Message(topic, b"async"))
    batch = producer.send_batch([Message(topic, b"b1"), Message(topic, b"b2")])
    producer.shutdown()
    assert producer.trace_stats == {"sent": 3, "dropped": 0, "failed": 0}

    with TransactionProducer(
        tx_group, namesrv, check=lambda _: LocalTransactionState.COMMIT, enable_msg_trace=True
    ) as tx:
        half = tx.send_in_transaction(
            Message(topic, b"tx"), lambda _msg, _half: LocalTransactionState.COMMIT
        )
        tx_producer = tx.producer
    # The half message's Pub record and the commit's EndTransaction record.
    assert tx_producer.trace_stats == {"sent": 2, "dropped": 0, "failed": 0}

    assert_traced(cluster, sync.msg_id, group)
    assert_traced(cluster, sent_async.msg_id, group)
    assert "," in batch.msg_id  # one record under the joined ids, as Java writes it
    assert_traced(cluster, batch.msg_id, group)
    assert_traced(cluster, half.send_result.msg_id, tx_group)


def test_a_trace_topic_that_cannot_be_written_costs_the_sends_nothing(
    namesrv: str, cluster: Cluster
) -> None:
    topic, trace_topic = unique("PyTraceUser"), unique("PyTraceReadOnly")
    cluster.create_topic(topic, 2)
    # Read-only queues (perm 4): every trace send fails.
    out = cluster.run("admin", "updateTopic", "-c", "DefaultCluster", "-t", trace_topic, "-p", "4")
    assert "success" in out
    producer = rmqproducer.Producer(
        unique("py_trace_ro"),
        namesrv,
        enable_msg_trace=True,
        customized_trace_topic=trace_topic,
    )
    with producer:
        for i in range(3):
            assert producer.send(Message(topic, f"m{i}".encode())).ok
    assert producer.trace_stats == {"sent": 0, "dropped": 0, "failed": 3}


def test_bad_trace_options_are_refused(namesrv: str) -> None:
    for value in ("SCHEDULE_TOPIC_XXXX", "no spaces", "x" * 200):
        with pytest.raises(rmqproducer.InvalidArgumentError):
            rmqproducer.Producer("py_trace_bad", namesrv, customized_trace_topic=value)
    with pytest.raises(rmqproducer.InvalidArgumentError):
        rmqproducer.Producer("py_trace_bad", namesrv, enable_msg_trace="maybe")  # type: ignore[arg-type]
    off = rmqproducer.Producer("py_trace_off", namesrv)
    assert off.trace_stats == {"sent": 0, "dropped": 0, "failed": 0}
