"""Auto-batching (``auto_batch=True``) against the real cluster: sends gathered into batch
requests, each message still answered on its own and stored with its own content, as the Java
reader finds it."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Callable, Optional

import pytest

import rmqproducer
from rmqproducer import Message, Producer, SendContext, SendResult

if TYPE_CHECKING:
    from conftest import Cluster

pytestmark = pytest.mark.cluster

COUNT = 20


def batching_producer(namesrv: str, group: str, requests: list[int]) -> Producer:
    producer = Producer(group, namesrv, auto_batch=True, batch_max_delay_ms=500)

    def before(ctx: SendContext) -> None:
        requests.append(len(ctx.msg_id.split(",")) if ctx.batch else 1)

    producer.add_send_hook(before=before)
    return producer


def message(topic: str, i: int) -> Message:
    return Message(
        topic, f"gathered {i}", tags=f"tag{i % 3}", keys=[f"key-{i}"], properties={"index": str(i)}
    )


async def test_async_sends_go_out_together_each_answered_once_with_its_own_result(
    namesrv: str, group: str, topic: str, cluster: Cluster
) -> None:
    requests: list[int] = []
    with batching_producer(namesrv, group, requests) as producer:
        results = await asyncio.gather(
            *(producer.send_async(message(topic, i)) for i in range(COUNT))
        )
    assert requests == [COUNT], "one request carried them all"
    first = results[0].queue_offset
    assert [r.queue_offset for r in results] == list(range(first, first + COUNT)), "call order"
    assert len({(r.queue.broker_name, r.queue.queue_id) for r in results}) == 1
    assert len({r.offset_msg_id for r in results}) == COUNT
    stored = cluster.by_msg_id(topic, COUNT)
    for i, result in enumerate(results):
        back = stored[result.msg_id]
        assert back.body == f"gathered {i}".encode()
        assert (back.tags, back.keys, back.properties["index"]) == (f"tag{i % 3}", f"key-{i}", str(i))


def test_callbacks_are_called_once_each_and_sync_sends_wait_for_their_batch(
    namesrv: str, group: str, topic: str, cluster: Cluster
) -> None:
    requests: list[int] = []
    calls: dict[int, int] = {}
    lock = threading.Lock()

    def callback(i: int) -> Callable[[Optional[SendResult], Optional[rmqproducer.RmqError]], None]:
        def called(result: Optional[SendResult], error: Optional[rmqproducer.RmqError]) -> None:
            assert error is None and result is not None
            with lock:
                calls[i] = calls.get(i, 0) + 1

        return called

    with batching_producer(namesrv, group, requests) as producer:
        for i in range(COUNT):
            producer.send_callback(message(topic, i), callback(i))
        synced: list[SendResult] = []
        threads = [
            threading.Thread(target=lambda i=i: synced.append(producer.send(message(topic, 100 + i))))
            for i in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        producer.flush(30)
    assert calls == {i: 1 for i in range(COUNT)}
    assert len(synced) == 4 and sum(requests) == COUNT + 4 and len(requests) < COUNT + 4
    assert len(cluster.read_topic(topic, COUNT + 4)) == COUNT + 4


@pytest.mark.parametrize(
    "option, value",
    [("batch_max_delay_ms", 0), ("batch_max_bytes", 2 * 1024 * 1024 + 1), ("total_batch_max_bytes", 0)],
)
def test_auto_batch_options_out_of_range_are_invalid_arguments(
    namesrv: str, option: str, value: int
) -> None:
    with pytest.raises(rmqproducer.InvalidArgumentError, match=option):
        Producer("py_auto_batch_bad", namesrv, auto_batch=True, **{option: value})  # type: ignore[arg-type]
