"""The async contract, on loopback servers: a call refused at once raises where it is made and
never completes later; an accepted call never blocks the event loop, whatever the backpressure;
requests count in flight."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable
from typing import Any, Callable, Optional

import pytest

import rmqproducer
from rmqproducer import Message, MessageQueue, Producer, SendResult

class Calls:
    """A send callback that records every call."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[Optional[SendResult], Optional[rmqproducer.RmqError]]] = []

    def __call__(self, result: Optional[SendResult], error: Optional[rmqproducer.RmqError]) -> None:
        self.outcomes.append((result, error))


def async_forms(p: Producer, msg: Message) -> dict[str, Callable[[], Awaitable[Any]]]:
    return {
        "send_async": lambda: p.send_async(msg),
        "send_to_queue_async": lambda: p.send_to_queue_async(msg, MessageQueue(msg.topic, "b", 0)),
        "send_with_sharding_key_async": lambda: p.send_with_sharding_key_async(msg, "k"),
        "send_batch_async": lambda: p.send_batch_async([msg]),
        "request_async": lambda: p.request_async(msg, timeout=1.0),
    }


async def test_a_refused_async_call_raises_at_once_and_never_completes(silent_namesrv: str) -> None:
    calls = Calls()
    loop_errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: loop_errors.append(context))

    p = Producer("py_refused", silent_namesrv, shutdown_timeout_ms=0)
    for start in async_forms(p, Message("PyTopic", b"x")).values():
        with pytest.raises(rmqproducer.IllegalStateError, match="not started"):
            start()  # raises here: no future to await
    with pytest.raises(rmqproducer.IllegalStateError, match="not started"):
        p.send_callback(Message("PyTopic", b"x"), calls)

    with p:
        for start in async_forms(p, Message("PyTopic", b"")).values():
            with pytest.raises(rmqproducer.EmptyBodyError):
                start()
        with pytest.raises(rmqproducer.InvalidArgumentError):
            p.send_batch_async([])
        with pytest.raises(rmqproducer.InvalidTopicError):
            p.send_callback(Message("bad topic!", b"x"), calls)
        with pytest.raises(rmqproducer.EmptyBodyError):
            p.send_callback(Message("PyTopic", b""), calls)
        assert p.in_flight == 0
        p.flush(5)
    await asyncio.sleep(0.2)  # time for a late delivery, if there were one
    assert calls.outcomes == [] and loop_errors == []


async def test_a_full_producer_with_backpressure_block_never_blocks_the_loop(
    silent_broker_namesrv: str,
) -> None:
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    options: dict[str, Any] = {
        "backpressure": "block",
        "max_async_in_flight": 1,
        "send_timeout_ms": 1500,
        "retry_times_async": 0,
        "shutdown_timeout_ms": 0,
    }
    async with Producer("py_room_in_task", silent_broker_namesrv, **options) as p:
        ticker = asyncio.ensure_future(tick())
        await asyncio.sleep(0.05)
        began = time.monotonic()
        # The first takes the only room, with a send the broker never answers; the others wait
        # for room inside their tasks.
        futures: list[asyncio.Future[Any]] = [
            p.send_async(Message("PyTopic", f"blocked {i}")) for i in range(3)
        ]
        futures.append(p.send_batch_async([Message("PyTopic", b"batch")]))
        futures.append(p.request_async(Message("PyTopic", b"request"), timeout=1.5))
        calls_took = time.monotonic() - began
        assert p.in_flight == 5
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        waited = time.monotonic() - began
        ticker.cancel()
    assert calls_took < 0.5, f"the calls held the loop for {calls_took:.2f} s"
    assert waited >= 1.0, "nothing waited: the producer was not full"
    assert all(isinstance(o, rmqproducer.RmqError) for o in outcomes), outcomes
    window = [t for t in ticks if t >= began]
    gaps = [later - earlier for earlier, later in zip(window, window[1:])]
    assert len(window) > 20 and max(gaps) < 0.5, f"the loop stalled {max(gaps):.2f} s"


async def test_flush_waits_for_a_request_in_flight(silent_broker_namesrv: str) -> None:
    options: dict[str, Any] = {"send_timeout_ms": 1000, "retry_times_async": 0, "shutdown_timeout_ms": 0}
    with Producer("py_flush_request", silent_broker_namesrv, **options) as p:
        reply = p.request_async(Message("PyTopic", b"anyone?"), timeout=1.0)
        assert p.in_flight == 1
        began = time.monotonic()
        await asyncio.to_thread(p.flush, 10)
        assert time.monotonic() - began >= 0.5
        assert p.in_flight == 0 and reply.done()
        with pytest.raises(rmqproducer.TimeoutError):
            await reply



async def test_a_panic_inside_a_send_task_completes_once_with_internal(silent_namesrv: str) -> None:
    """The core's test switch `test.panic_in_sends` makes the next async calls panic inside the
    library's task: each completes once, with InternalError, and the producer goes on."""
    calls = Calls()
    called = threading.Event()

    def callback(result: Optional[SendResult], error: Optional[rmqproducer.RmqError]) -> None:
        calls(result, error)
        called.set()

    options: dict[str, Any] = {"test.panic_in_sends": 2, "send_timeout_ms": 300}
    with Producer("py_panic", silent_namesrv, **options) as p:
        with pytest.raises(rmqproducer.InternalError, match="panic"):
            await p.send_async(Message("PyTopic", b"x"))
        p.send_callback(Message("PyTopic", b"y"), callback)
        assert called.wait(30)
        with pytest.raises(rmqproducer.RmqError) as later:
            await p.send_async(Message("PyTopic", b"z"))
        assert not isinstance(later.value, rmqproducer.InternalError)
        p.flush(30)
    [(result, error)] = calls.outcomes
    assert result is None and isinstance(error, rmqproducer.InternalError)
