"""Sends 100 messages concurrently from one asyncio event loop, then one with a callback from a
plain thread, and prints what the broker answered.

    NAMESRV_ADDR=127.0.0.1:9876 python examples/python/async_send.py
"""

import asyncio
import threading
from typing import Optional

from rmqproducer import Message, Producer, RmqError, SendResult


async def send_many(producer: Producer) -> None:
    messages = [Message("TopicTest", f"async {i}", tags="TagA", keys=f"k{i}") for i in range(100)]
    # Each send starts at once; gather waits for all the answers.
    outcomes = await asyncio.gather(
        *(producer.send_async(m) for m in messages), return_exceptions=True
    )
    for outcome in outcomes:
        print(outcome)


def send_with_callback(producer: Producer) -> None:
    done = threading.Event()

    def on_result(result: Optional[SendResult], error: Optional[RmqError]) -> None:
        # Runs on the library's delivery thread: keep it short.
        print("callback:", result if error is None else error)
        done.set()

    producer.send_callback(Message("TopicTest", b"from a callback"), on_result)
    done.wait()


async def main() -> None:
    async with Producer("please_rename_unique_group_name") as producer:
        await send_many(producer)
        await asyncio.to_thread(send_with_callback, producer)


if __name__ == "__main__":
    asyncio.run(main())
