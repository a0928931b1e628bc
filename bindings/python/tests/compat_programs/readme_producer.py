"""The producer of rocketmq-client-python's README, unchanged but for the import line and the
name server, topic and group, which come from NAMESRV_ADDR and the arguments."""

import os
import sys

from rmqproducer.compat import Message, Producer

producer = Producer(sys.argv[2])
producer.set_name_server_address(os.environ["NAMESRV_ADDR"])
producer.start()

msg = Message(sys.argv[1])
msg.set_keys("XXX")
msg.set_tags("XXX")
msg.set_body("XXXX")
ret = producer.send_sync(msg)
print(ret.status, ret.msg_id, ret.offset)
producer.shutdown()
