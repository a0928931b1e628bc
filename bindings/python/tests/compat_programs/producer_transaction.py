"""A transaction producer of rocketmq-client-python 2.x, in the shape of its samples, unchanged
but for the import line (name server from NAMESRV_ADDR, topic and group from the arguments):
local transactions that commit, roll back and leave it to the checker, which commits. Prints one
JSON line per send and per callback, and ends once the checker was asked."""

import json
import os
import sys
import threading

from rmqproducer.compat import (
    Message,
    ReceivedMessage,
    TransactionMQProducer,
    TransactionStatus,
)

topic = sys.argv[1]
gid = sys.argv[2]
name_srv = os.environ["NAMESRV_ADDR"]
checked = threading.Event()


def seen(callback: str, msg: ReceivedMessage) -> None:
    print(json.dumps({"callback": callback, "id": msg.id, "topic": msg.topic,
                      "body": msg.body.decode(), "keys": msg.keys.decode(),
                      "tags": msg.tags.decode(), "property": msg.get_property("property").decode(),
                      "uniq_key": msg["UNIQ_KEY"].decode(), "str": str(msg)}), flush=True)


def check_callback(msg: ReceivedMessage) -> TransactionStatus:
    seen("check", msg)
    if msg.body == b"unknown":
        checked.set()
        return TransactionStatus.COMMIT
    return TransactionStatus.UNKNOWN


def local_execute(msg: ReceivedMessage, user_args: object) -> TransactionStatus:
    seen("local", msg)
    assert user_args == {"asked": "by me"}
    return {b"commit": TransactionStatus.COMMIT, b"rollback": TransactionStatus.ROLLBACK}.get(
        msg.body, TransactionStatus.UNKNOWN)


def send_transaction_message() -> None:
    producer = TransactionMQProducer(gid, check_callback, timeout=5000)
    producer.set_name_server_address(name_srv)
    producer.start()
    for body in ("commit", "rollback", "unknown"):
        msg = Message(topic)
        msg.set_keys("KEY_" + body)
        msg.set_tags("TagTx")
        msg.set_property("property", body)
        msg.set_body(body)
        ret = producer.send_message_in_transaction(msg, local_execute, {"asked": "by me"})
        print(json.dumps({"sent": body, "status": ret.status, "msg_id": ret.msg_id}), flush=True)
    if not checked.wait(240):
        sys.exit("the broker never checked the unknown transaction")
    producer.shutdown()


if __name__ == "__main__":
    send_transaction_message()
