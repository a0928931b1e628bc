"""Each exception class, raised by a real failure: a real cluster refusing something, a real
socket that misbehaves, or real validation; no mocks."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from typing import Any, Optional

import pytest

import rmqproducer
from rmqproducer import Message, Producer

FAST: dict[str, Any] = {"send_timeout_ms": 1500, "client_api_timeout_ms": 1000, "retry_times": 0}


def raised_by_send(producer: Producer, msg: Message) -> rmqproducer.RmqError:
    with pytest.raises(rmqproducer.RmqError) as caught:
        producer.send(msg)
    return caught.value


class TestValidation:
    """Refused before any network traffic, by a started producer."""

    @pytest.fixture
    def started(self, namesrv: str, group: str) -> Iterator[Producer]:
        with Producer(group, namesrv) as p:
            yield p

    @pytest.mark.cluster
    @pytest.mark.parametrize(
        ("msg", "cls"),
        [
            (Message("bad topic!", b"x"), rmqproducer.InvalidTopicError),
            (Message("", b"x"), rmqproducer.InvalidTopicError),
            (Message("T" * 200, b"x"), rmqproducer.InvalidTopicError),
            (Message("SCHEDULE_TOPIC_XXXX", b"x"), rmqproducer.ReservedTopicError),
            (Message("PyTopic", b""), rmqproducer.EmptyBodyError),
            (Message("PyTopic", b"x", properties={"UNIQ_KEY": "x"}), rmqproducer.InvalidMessageError),
            (Message("PyTopic", b"x", delay_level=-1), rmqproducer.InvalidMessageError),
        ],
    )
    def test_invalid_messages(self, started: Producer, msg: Message, cls: type) -> None:
        error = raised_by_send(started, msg)
        assert type(error) is cls, repr(error)
        assert isinstance(error, ValueError)
        assert error.kind == cls.kind and not error.retriable

    @pytest.mark.cluster
    def test_message_too_large(self, namesrv: str, group: str) -> None:
        with Producer(group, namesrv, max_message_size=16, compress_threshold=1 << 20) as p:
            error = raised_by_send(p, Message("PyTopic", b"x" * 17))
        assert type(error) is rmqproducer.MessageTooLargeError

    @pytest.mark.cluster
    async def test_send_async_raises_them_on_await(self, started: Producer) -> None:
        with pytest.raises(rmqproducer.EmptyBodyError):
            await started.send_async(Message("PyTopic", b""))


def test_invalid_argument() -> None:
    with pytest.raises(rmqproducer.InvalidArgumentError) as caught:
        Producer("py_err", retry_times="many")  # type: ignore[arg-type]
    assert caught.value.kind == "INVALID_ARGUMENT" and caught.value.response_code is None
    assert caught.value.code == "INVALID_ARGUMENT"


def test_illegal_state_twice_started_and_not_started(silent_namesrv: str) -> None:
    p = Producer("py_err_state", silent_namesrv)
    with pytest.raises(rmqproducer.IllegalStateError, match="not started"):
        p.send(Message("PyTopic", b"x"))
    p.start()
    try:
        with pytest.raises(rmqproducer.IllegalStateError, match="already started"):
            p.start()
    finally:
        p.shutdown()
    with pytest.raises(rmqproducer.IllegalStateError):
        p.start()


def test_group_already_exists(silent_namesrv: str) -> None:
    with Producer("py_err_dup", silent_namesrv):
        with pytest.raises(rmqproducer.GroupAlreadyExistsError):
            Producer("py_err_dup", silent_namesrv).start()


def test_no_name_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAMESRV_ADDR", raising=False)
    with pytest.raises(rmqproducer.NoNameServerError):
        with Producer("py_err_nonamesrv") as p:
            p.send(Message("PyTopic", b"x"))


@pytest.mark.cluster
def test_no_route(namesrv: str, group: str, topic: str) -> None:
    # A topic that does not exist, and no topic to auto-create it from.
    with Producer(group, namesrv, create_topic_key=f"{topic}_missing_key", **FAST) as p:
        error = raised_by_send(p, Message(topic, b"x"))
    assert type(error) is rmqproducer.NoRouteError, repr(error)


def test_connect(closed_port: str) -> None:
    with Producer("py_err_connect", closed_port, **FAST) as p:
        error = raised_by_send(p, Message("PyTopic", b"x"))
    assert type(error) is rmqproducer.ConnectError, repr(error)
    assert isinstance(error, ConnectionError) and error.retriable


def test_timeout(silent_namesrv: str) -> None:
    with Producer("py_err_timeout", silent_namesrv, **FAST) as p:
        error = raised_by_send(p, Message("PyTopic", b"x"))
    assert type(error) is rmqproducer.TimeoutError, repr(error)
    assert isinstance(error, TimeoutError) and error.retriable


def test_network(hang_up_namesrv: str) -> None:
    with Producer("py_err_network", hang_up_namesrv, **FAST) as p:
        error = raised_by_send(p, Message("PyTopic", b"x"))
    assert type(error) is rmqproducer.NetworkError, repr(error)
    assert isinstance(error, ConnectionError)


def test_protocol(wrong_body_namesrv: str) -> None:
    with Producer("py_err_protocol", wrong_body_namesrv, **FAST) as p:
        error = raised_by_send(p, Message("PyTopic", b"x"))
    assert type(error) is rmqproducer.ProtocolError, repr(error)


@pytest.mark.cluster
def test_broker_error_has_code_and_remark(namesrv: str, group: str, topic: str) -> None:
    # The client is told to accept 5 MiB; the broker's own limit (4 MiB) refuses it.
    body = os.urandom(5 * 1024 * 1024)
    with Producer(
        group, namesrv, max_message_size=8 * 1024 * 1024, compress_threshold=64 << 20, retry_times=0
    ) as p:
        p.send(Message(topic, b"create the route"))
        error = raised_by_send(p, Message(topic, body))
    assert type(error) is rmqproducer.BrokerError, repr(error)
    assert isinstance(error.response_code, int) and error.response_code != 0
    assert error.code == "BROKER"
    assert error.remark and error.broker_addr
    assert f"code {error.response_code}" in str(error)


def test_shutdown_fails_sends_still_in_flight(silent_namesrv: str) -> None:
    outcomes: list[Optional[rmqproducer.RmqError]] = []
    done = threading.Event()

    def callback(result: object, error: Optional[rmqproducer.RmqError]) -> None:
        outcomes.append(error)
        if len(outcomes) == 3:
            done.set()

    p = Producer(
        "py_err_shutdown",
        silent_namesrv,
        send_timeout_ms=30_000,
        client_api_timeout_ms=30_000,
        shutdown_timeout_ms=0,
    )
    p.start()
    for _ in range(3):
        p.send_callback(Message("PyTopic", b"x"), callback)
    p.shutdown()
    assert done.wait(10)
    assert [type(e) for e in outcomes] == [rmqproducer.ShutdownError] * 3


async def test_too_many_requests(silent_broker_namesrv: str) -> None:
    # Two producers of one client instance share its connections, which allow one request in
    # flight. The first takes that slot with a send to a broker that never answers; the second
    # producer's sends cannot get a slot before their (shorter) deadline.
    shared: dict[str, Any] = {
        "instance_name": "py_err_busy",
        "max_in_flight_per_connection": 1,
        "retry_times_async": 0,
        "shutdown_timeout_ms": 0,
        "client_api_timeout_ms": 300,
    }
    ns = silent_broker_namesrv
    async with Producer("py_err_busy_holder", ns, send_timeout_ms=10_000, **shared) as holder:
        async with Producer("py_err_busy", ns, send_timeout_ms=300, **shared) as p:
            held = holder.send_async(Message("PyTopic", b"x"))
            await asyncio.sleep(0.3)
            outcomes = await asyncio.gather(
                *(p.send_async(Message("PyTopic", b"x")) for _ in range(4)),
                return_exceptions=True,
            )
            held.cancel()
    assert all(type(o) is rmqproducer.TooManyRequestsError for o in outcomes), outcomes
    assert all(isinstance(o, rmqproducer.RmqError) and o.retriable for o in outcomes)
