"""Request-reply against a responder built on the official Java client, transactions settled by
the local function and by the broker's check-back, and send hooks; what was stored is read
back with the cluster's own (Java) reader."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Optional

import pytest

import rmqproducer
from rmqproducer import (
    LocalTransactionState,
    Message,
    Producer,
    SendContext,
    SendResult,
    TransactionCheck,
    TransactionProducer,
)

if TYPE_CHECKING:
    from conftest import Cluster

pytestmark = pytest.mark.cluster


async def test_requests_get_the_java_responders_replies(
    producer: Producer, topic: str, cluster: Cluster
) -> None:
    cluster.create_topic(topic, 2)
    responder = cluster.spawn("reply-responder", topic, "--count", "3")
    assert responder.stdout is not None
    try:
        ready = responder.stdout.readline()
        assert "ready" in ready, ready

        for i in range(2):
            reply = producer.request(Message(topic, f"ping {i}", tags="Req"), timeout=30)
            assert isinstance(reply, Message)
            assert reply.body == f"reply:ping {i}".encode()
            assert reply.topic == "DefaultCluster_REPLY_TOPIC"
        reply = await producer.request_async(Message(topic, "ping async"), timeout=30)
        assert reply.body == b"reply:ping async"

        replies = [json.loads(line) for line in responder.stdout]
        assert responder.wait(timeout=60) == 0
    finally:
        if responder.poll() is None:
            responder.kill()
            responder.wait()
    assert len(replies) == 3, replies
    assert sorted(r["requestBody"] for r in replies) == ["ping 0", "ping 1", "ping async"]
    assert all(r["status"] == "SEND_OK" and len(r["replied"]) == 36 for r in replies)


async def test_an_unanswered_request_times_out(producer: Producer, topic: str) -> None:
    started = time.monotonic()
    with pytest.raises(rmqproducer.TimeoutError):
        producer.request(Message(topic, b"hello?"), timeout=1.5)
    assert time.monotonic() - started < 10
    with pytest.raises(rmqproducer.TimeoutError):
        await producer.request_async(Message(topic, b"hello async?"), timeout=1.0)
    with pytest.raises(rmqproducer.InvalidArgumentError):
        producer.request(Message(topic, b"x"), timeout=-1)


def test_commit_rollback_unknown_and_raising_transactions(
    namesrv: str, group: str, topic: str, cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    cluster.create_topic(topic, 4)
    answers = {
        "unknown then commit": LocalTransactionState.COMMIT,
        "raises then rollback": LocalTransactionState.ROLLBACK,
    }
    asked: list[tuple[str, bytes, Optional[str], threading.Thread]] = []
    lock = threading.Lock()

    def check(check: TransactionCheck) -> LocalTransactionState:
        body = check.message.body
        with lock:
            asked.append((check.msg_id, body, check.message.tags, threading.current_thread()))
        if body == b"checker raises":
            raise RuntimeError("checker bug")
        return answers.get(body.decode(), LocalTransactionState.UNKNOWN)

    local_threads: list[threading.Thread] = []

    def local_for(outcome: object) -> object:
        def local(msg: Message, half: SendResult) -> LocalTransactionState:
            local_threads.append(threading.current_thread())
            assert half.ok and msg.tags == "TagTx"
            if isinstance(outcome, LocalTransactionState):
                return outcome
            if outcome == "raise":
                raise ValueError("local transaction bug")
            return outcome  # type: ignore[return-value]

        return local

    cases: list[tuple[str, object, LocalTransactionState]] = [
        ("commit", LocalTransactionState.COMMIT, LocalTransactionState.COMMIT),
        ("rollback", LocalTransactionState.ROLLBACK, LocalTransactionState.ROLLBACK),
        ("unknown then commit", LocalTransactionState.UNKNOWN, LocalTransactionState.UNKNOWN),
        ("raises then rollback", "raise", LocalTransactionState.UNKNOWN),
        ("checker raises", "not a state", LocalTransactionState.UNKNOWN),
    ]
    ids: dict[str, str] = {}
    with caplog.at_level(logging.ERROR, logger="rmqproducer"):
        with TransactionProducer(group, namesrv, check=check) as producer:
            assert producer.group == group
            for body, local, state in cases:
                msg = Message(topic, body, tags="TagTx", keys=body)
                result = producer.send_in_transaction(msg, local_for(local))  # type: ignore[arg-type]
                assert result.local_state == state, body
                assert result.send_result.ok and result.send_result.transaction_id
                ids[body] = result.send_result.msg_id
            assert local_threads == [threading.current_thread()] * len(cases)

            # Committed (locally or by the check-back) messages become visible.
            stored = cluster.by_msg_id(topic, 2)
            for body in ("commit", "unknown then commit"):
                found = stored[ids[body]]
                assert (found.body, found.tags) == (body.encode(), "TagTx")
                assert found.sys_flag & 0xC == 0x8, "commit type in sysFlag"

            def checked(body: str) -> bool:
                with lock:
                    return any(i == ids[body] and b == body.encode() for i, b, _, _ in asked)

            deadline = time.monotonic() + 90
            while not all(map(checked, ["raises then rollback", "checker raises"])):
                assert time.monotonic() < deadline, f"never checked: {asked}"
                time.sleep(0.5)

    # The check-back ran off the caller's thread; errors were logged, nothing crashed.
    assert all(thread is not threading.current_thread() for *_, thread in asked)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "local transaction" in logged and "transaction check" in logged, logged
    assert any(isinstance(r.exc_info and r.exc_info[1], ValueError) for r in caplog.records)

    # Rolled back never appears (read after its check was answered): only the commits (a
    # check-back may commit twice when the broker asks again before the first answer landed).
    everything = cluster.read_topic(topic)
    assert {m.body for m in everything} == {b"commit", b"unknown then commit"}


def test_ctrl_c_in_the_local_transaction_leaves_it_to_the_check(
    namesrv: str, group: str, topic: str, cluster: Cluster
) -> None:
    def interrupted(msg: Message, half: SendResult) -> LocalTransactionState:
        raise KeyboardInterrupt

    with TransactionProducer(group, namesrv, check=lambda c: LocalTransactionState.COMMIT) as tx:
        with pytest.raises(KeyboardInterrupt):
            tx.send_in_transaction(Message(topic, b"interrupted"), interrupted)
        # Unknown, then committed by the check-back.
        [found] = cluster.read_topic(topic, 1)
    assert found.body == b"interrupted"


def test_transaction_producer_rejects_bad_arguments(namesrv: str, group: str) -> None:
    with pytest.raises(TypeError):
        TransactionProducer(group, namesrv, check=42)  # type: ignore[arg-type]
    with pytest.raises(rmqproducer.InvalidArgumentError):
        TransactionProducer(group, namesrv, check=lambda c: LocalTransactionState.COMMIT, retry_times=-5)
    producer = TransactionProducer(group, namesrv, check=lambda c: LocalTransactionState.COMMIT)
    with pytest.raises(rmqproducer.IllegalStateError):
        producer.send_in_transaction(Message("T", b"x"), lambda m, r: LocalTransactionState.COMMIT)
    with pytest.raises(TypeError):
        producer.send_in_transaction(Message("T", b"x"), None)  # type: ignore[arg-type]


def test_ordinary_sends_through_a_transaction_producer(
    namesrv: str, group: str, topic: str, cluster: Cluster
) -> None:
    with TransactionProducer(group, namesrv, check=lambda c: LocalTransactionState.COMMIT) as tx:
        result = tx.producer.send(Message(topic, b"plain"))
    [found] = cluster.read_topic(topic, 1)
    assert (found.msg_id, found.body, found.sys_flag & 0xC) == (result.msg_id, b"plain", 0)


async def test_send_hooks_see_every_attempt_and_raising_hooks_are_contained(
    producer: Producer, topic: str, cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    before: list[SendContext] = []
    after: list[tuple[SendContext, float, Optional[SendResult], Optional[BaseException]]] = []
    threads: set[threading.Thread] = set()

    def on_before(ctx: SendContext) -> None:
        threads.add(threading.current_thread())
        before.append(ctx)

    def on_after(
        ctx: SendContext,
        latency: float,
        result: Optional[SendResult],
        error: Optional[rmqproducer.RmqError],
    ) -> None:
        after.append((ctx, latency, result, error))

    def broken(ctx: SendContext) -> None:
        raise RuntimeError("hook bug")

    producer.add_send_hook(before=on_before, after=on_after)
    producer.add_send_hook(before=broken)
    with caplog.at_level(logging.ERROR, logger="rmqproducer"):
        sync = producer.send(Message(topic, b"hooked sync"))
        asynchronous = await producer.send_async(Message(topic, b"hooked async"))
        batch = producer.send_batch([Message(topic, b"hooked batch 1"), Message(topic, b"hooked batch 2")])
        producer.send_oneway(Message(topic, b"hooked oneway"))
        producer.flush()

    assert threading.current_thread() not in threads
    assert [c.msg_id for c in before] == [sync.msg_id, asynchronous.msg_id, batch.msg_id, before[3].msg_id]
    assert [(c.batch, c.oneway) for c in before] == [(False, False), (False, False), (True, False), (False, True)]
    assert all(c.group == producer.group and c.attempt == 0 and c.broker_addr for c in before)
    assert before[0].queue == sync.queue and "SendContext(group=" in repr(before[0])
    assert [a[2].msg_id if a[2] else None for a in after] == [
        sync.msg_id,
        asynchronous.msg_id,
        batch.msg_id,
        None,
    ]
    assert all(latency >= 0 and error is None for _, latency, _, error in after)
    raised = [r for r in caplog.records if "send hook" in r.getMessage()]
    assert len(raised) == 4 and all(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in raised)

    stored = cluster.by_msg_id(topic, 5)
    assert {sync.msg_id, asynchronous.msg_id, *batch.msg_ids} <= stored.keys()


def test_a_failed_attempt_reaches_the_after_hook(silent_broker_namesrv: str, group: str) -> None:
    errors: list[Optional[rmqproducer.RmqError]] = []
    with Producer(group, silent_broker_namesrv, send_timeout_ms=1000, retry_times=0) as producer:
        producer.add_send_hook(after=lambda ctx, latency, result, error: errors.append(error))
        with pytest.raises(rmqproducer.TimeoutError):
            producer.send(Message("PyTopic", b"x"))
        producer.flush()
    assert errors and isinstance(errors[0], rmqproducer.RmqError)
    with pytest.raises(TypeError):
        producer.add_send_hook()
    with pytest.raises(TypeError):
        producer.add_send_hook(before="not callable")  # type: ignore[arg-type]
