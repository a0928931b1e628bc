"""Each send mode against the real cluster, verified by reading the topic back with the
cluster's own reader."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

import rmqproducer
from rmqproducer import Message, Producer, SendResult, SendStatus

pytestmark = pytest.mark.cluster

Reader = Callable[[str, int], list[Any]]
REPO = Path(__file__).resolve().parents[3]


def check_result(result: SendResult, topic: str) -> None:
    assert result.status == SendStatus.SEND_OK and result.ok
    assert result.msg_id and result.offset_msg_id
    assert result.queue.topic == topic
    assert result.queue.broker_name and result.queue.queue_id >= 0
    assert result.queue_offset >= 0


def test_send_returns_every_field_and_a_readable_repr(
    producer: Producer, topic: str, stored: Reader
) -> None:
    result = producer.send(Message(topic, b"hello", tags="TagA", keys=["k1", "k2"]))
    check_result(result, topic)
    text = repr(result)
    assert text.startswith("SendResult(status=SEND_OK, msg_id=")
    for field in ("offset_msg_id=", "queue=MessageQueue(topic=", "queue_offset=", "region_id="):
        assert field in text
    assert result.transaction_id is None or isinstance(result.transaction_id, str)
    assert isinstance(result.region_id, str) and isinstance(result.trace_on, bool)

    [message] = stored(topic, 1)
    assert message.msg_id == result.msg_id
    assert (message.body, message.tags, message.keys) == (b"hello", "TagA", "k1 k2")


def test_bodies_with_nul_bytes_are_stored_byte_exact(
    producer: Producer, topic: str, stored: Reader
) -> None:
    bodies = [b"\x00", b"a\x00b\x00c", bytes(range(256)) * 4, b"\x00" * 5000 + b"end"]
    ids = {producer.send(Message(topic, body)).msg_id: body for body in bodies}
    back = {m.msg_id: m.body for m in stored(topic, len(bodies))}
    assert back == ids


def test_str_body_keys_and_properties_arrive(
    producer: Producer, topic: str, stored: Reader
) -> None:
    msg = Message(topic, "héllo wörld", tags="T1", keys="order-42", properties={"k": "v", "n": "1"})
    result = producer.send(msg)
    [message] = stored(topic, 1)
    assert message.msg_id == result.msg_id
    assert message.body == "héllo wörld".encode()
    assert message.keys == "order-42"
    assert message.properties.get("k") == "v" and message.properties.get("n") == "1"


async def test_send_async_resolves_on_the_callers_loop(
    producer: Producer, topic: str, stored: Reader
) -> None:
    future = producer.send_async(Message(topic, b"async"))
    assert isinstance(future, asyncio.Future)
    assert future.get_loop() is asyncio.get_running_loop()
    result = await future
    check_result(result, topic)
    [message] = stored(topic, 1)
    assert (message.msg_id, message.body) == (result.msg_id, b"async")


async def test_thousand_concurrent_send_async_from_one_loop(
    producer: Producer, topic: str, stored: Reader, concurrency: int
) -> None:
    bodies = [f"async {i}".encode() for i in range(concurrency)]
    results = await asyncio.gather(*(producer.send_async(Message(topic, b)) for b in bodies))
    for result in results:
        check_result(result, topic)
    sent = {r.msg_id: b for r, b in zip(results, bodies)}
    assert len(sent) == concurrency
    assert {m.msg_id: m.body for m in stored(topic, concurrency)} == sent


async def test_a_cancelled_future_does_not_break_the_loop(
    producer: Producer, topic: str, stored: Reader
) -> None:
    future = producer.send_async(Message(topic, b"cancelled"))
    future.cancel()
    # The send goes on; its outcome is dropped quietly, and later sends still work.
    check_result(await producer.send_async(Message(topic, b"after")), topic)
    producer.flush()
    assert sorted(m.body for m in stored(topic, 2)) == [b"after", b"cancelled"]


def test_send_callback_from_plain_threads(
    producer: Producer, topic: str, stored: Reader
) -> None:
    outcomes: list[tuple[Optional[SendResult], Optional[rmqproducer.RmqError], str]] = []
    done = threading.Event()
    count = 200

    def callback(result: Optional[SendResult], error: Optional[rmqproducer.RmqError]) -> None:
        outcomes.append((result, error, threading.current_thread().name))
        if len(outcomes) == count:
            done.set()

    def sender(start: int) -> None:
        for i in range(start, count, 4):
            producer.send_callback(Message(topic, f"cb {i}"), callback)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done.wait(60), f"only {len(outcomes)} of {count} callbacks ran"
    assert all(error is None and result is not None and result.ok for result, error, _ in outcomes)
    assert all(name != threading.main_thread().name for _, _, name in outcomes)
    assert len(stored(topic, count)) == count


def test_a_raising_callback_is_logged_not_fatal(
    producer: Producer, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    ran = threading.Event()

    def callback(result: Optional[SendResult], error: Optional[rmqproducer.RmqError]) -> None:
        ran.set()
        raise ValueError("boom in callback")

    with caplog.at_level("ERROR", logger="rmqproducer"):
        producer.send_callback(Message(topic, b"x"), callback)
        assert ran.wait(30)
        producer.flush()
    [record] = [r for r in caplog.records if "callback" in r.getMessage()]
    assert record.name == "rmqproducer" and record.exc_info is not None
    assert "boom in callback" in str(record.exc_info[1])
    check_result(producer.send(Message(topic, b"still works")), topic)


def test_send_callback_delivers_errors_too(namesrv: str, group: str) -> None:
    outcome: list[object] = []
    done = threading.Event()

    def callback(result: Optional[SendResult], error: Optional[rmqproducer.RmqError]) -> None:
        outcome.extend([result, error])
        done.set()

    # A send refused at once raises instead (test_async_contract.py); this one is accepted and
    # fails later: a topic without a route, and no topic to auto-create it from.
    topic = f"PyNoRoute_{group}"
    fast: dict[str, Any] = {"send_timeout_ms": 1500, "client_api_timeout_ms": 1000, "retry_times": 0}
    with Producer(group, namesrv, create_topic_key=f"{topic}_missing_key", **fast) as p:
        p.send_callback(Message(topic, b"x"), callback)
        assert done.wait(30)
    assert outcome[0] is None and isinstance(outcome[1], rmqproducer.NoRouteError), outcome


def test_send_oneway(producer: Producer, topic: str, stored: Reader) -> None:
    producer.send(Message(topic, b"first"))  # creates the topic's route
    for i in range(5):
        producer.send_oneway(Message(topic, f"oneway {i}"))
    bodies = sorted(m.body for m in stored(topic, 6))
    assert bodies == [b"first"] + [f"oneway {i}".encode() for i in range(5)]


def test_sync_context_manager(namesrv: str, group: str, topic: str) -> None:
    with Producer(group, namesrv) as p:
        check_result(p.send(Message(topic, b"with")), topic)
    with pytest.raises(rmqproducer.IllegalStateError):
        p.send(Message(topic, b"after shutdown"))


async def test_async_context_manager(namesrv: str, group: str, topic: str) -> None:
    async with Producer(group, namesrv) as p:
        assert isinstance(p, Producer)
        check_result(await p.send_async(Message(topic, b"async with")), topic)
    with pytest.raises(rmqproducer.IllegalStateError):
        await p.send_async(Message(topic, b"after shutdown"))


def test_namesrv_defaults_to_the_environment(namesrv: str, group: str, topic: str) -> None:
    assert os.environ["NAMESRV_ADDR"] == namesrv
    with Producer(group) as p:
        check_result(p.send(Message(topic, b"from env")), topic)


def test_async_example(namesrv: str, example_topic: str) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python" / "async_send.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    lines = done.stdout.splitlines()
    assert sum(line.startswith("SendResult(status=SEND_OK") for line in lines) == 100
    assert any(line.startswith("callback: SendResult(status=SEND_OK") for line in lines)


def test_quickstart_example(namesrv: str, example_topic: str) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python" / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1000
    assert all(line.startswith("SendResult(status=SEND_OK") for line in lines)
