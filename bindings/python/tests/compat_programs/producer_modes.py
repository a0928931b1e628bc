"""Every producer send mode of rocketmq-client-python 2.x, in the shape of its samples: create,
set the name server, start, send, shut down. Unchanged but for the import line; the name server
comes from NAMESRV_ADDR, topic and group from the arguments. Prints one JSON line per send."""

import json
import os
import sys

from rmqproducer.compat import Message, Producer, SendStatus

topic = sys.argv[1]
gid = sys.argv[2]
name_srv = os.environ["NAMESRV_ADDR"]


def create_message(body: bytes) -> Message:
    msg = Message(topic)
    msg.set_keys("KEY1 KEY2")
    msg.set_tags("TagA")
    msg.set_property("property", "test")
    msg.set_body(body)
    return msg


def report(mode: str, body: bytes, status: int, msg_id: str, offset: int) -> None:
    print(json.dumps({"mode": mode, "body": body.hex(), "status": status, "msg_id": msg_id,
                      "offset": offset}), flush=True)


def send_message_sync(count: int) -> None:
    producer = Producer(gid)
    producer.set_name_server_address(name_srv)
    producer.start()
    for n in range(count):
        body = b"sync\x00" + bytes([n, 0xFF, 0])
        ret = producer.send_sync(create_message(body))
        assert ret.status == SendStatus.OK
        report("sync", body, ret.status, ret.msg_id, ret.offset)
    producer.shutdown()


def send_message_oneway(count: int) -> None:
    producer = Producer(gid, timeout=5000, compress_level=5, max_message_size=1024 * 1024)
    producer.set_name_server_address(name_srv)
    producer.start()
    for n in range(count):
        body = ("oneway %d" % n).encode()
        producer.send_oneway(create_message(body))
        report("oneway", body, -1, "", -1)
    producer.shutdown()


def send_orderly_with_sharding_key(count: int) -> None:
    producer = Producer(gid, True)
    producer.set_name_server_address(name_srv)
    producer.start()
    for n in range(count):
        body = ("orderly %d" % n).encode()
        ret = producer.send_orderly_with_sharding_key(create_message(body), "orderId")
        report("orderly", body, ret.status, ret.msg_id, ret.offset)
    producer.shutdown()


def send_delayed_with_statement() -> None:
    producer = Producer(gid)
    producer.set_name_server_address(name_srv)
    with producer as started:
        msg = create_message("délai".encode())
        msg.set_delay_time_level(1)
        ret = started.send_sync(msg)
        report("delayed", "délai".encode(), ret.status, ret.msg_id, ret.offset)


if __name__ == "__main__":
    send_message_sync(5)
    send_message_oneway(3)
    send_orderly_with_sharding_key(5)
    send_delayed_with_statement()
