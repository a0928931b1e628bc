"""Sends 1000 messages "Hello RocketMQ i" with tag TagA to TopicTest and prints each result.

The name server comes from the NAMESRV_ADDR environment variable (host:port;host:port).

    NAMESRV_ADDR=127.0.0.1:9876 python examples/python/quickstart.py
"""

from rmqproducer import Message, Producer, RmqError


def main() -> int:
    failed = 0
    with Producer("please_rename_unique_group_name") as producer:
        for i in range(1000):
            msg = Message("TopicTest", f"Hello RocketMQ {i}", tags="TagA")
            try:
                print(producer.send(msg))
            except RmqError as error:
                failed += 1
                print(f"send {i} failed: {error}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
