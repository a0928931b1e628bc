"""The producer half of rocketmq-client-python 2.x, over rmqproducer.

A program written for the official client runs by changing its import::

    from rocketmq.client import Producer, Message        # before
    from rmqproducer.compat import Producer, Message     # after

``rmqproducer.compat`` offers what ``rocketmq.client`` offers a producer (``Producer``,
``TransactionMQProducer``, ``Message``, ``ReceivedMessage``, ``SendResult``, ``SendStatus``,
``TransactionStatus``) and the exception classes of ``rocketmq.exceptions``;
``rmqproducer.compat.client``, ``.exceptions`` and ``.consts`` follow the official module layout.

It translates each call to rmqproducer and keeps the official behaviour programs rely on, not
the official client's defects:

- ``with Producer(group) as producer:`` binds the producer (the official one binds ``None``);
- ``TransactionMQProducer(group, checker, timeout=...)`` is not an orderly producer;
- a checker or ``local_execute`` that raises or answers something else than a
  ``TransactionStatus`` counts as UNKNOWN and is logged to the ``rmqproducer`` logger, never
  printed by ctypes with an undefined status;
- ``set_body`` keeps ``bytes`` byte for byte, NUL included;
- ``send_orderly_with_sharding_key`` puts a key on the queue a Java producer picks for it
  (the official C++ hash differs), in one attempt;
- failures keep rmqproducer's error as ``__cause__`` (its ``kind`` says what went wrong).

Not offered: ``PushConsumer`` and ``ConsumeStatus`` (rmqproducer is a producer), and
``set_name_server_domain``, which raises ``ProducerStartFailed`` (no HTTP name server lookup).
"""

from __future__ import annotations

from . import exceptions
from .client import (
    Message,
    MessageProperty,
    Producer,
    ReceivedMessage,
    SendResult,
    SendStatus,
    TransactionMQProducer,
    TransactionStatus,
)
from .exceptions import (
    ConsumerException,
    MallocFailed,
    NullPointerException,
    ProducerException,
    ProducerSendAsyncFailed,
    ProducerSendOnewayFailed,
    ProducerSendOrderlyFailed,
    ProducerSendSyncFailed,
    ProducerStartFailed,
    PushConsumerStartFailed,
    RocketMQException,
)

__all__ = [
    "Message",
    "MessageProperty",
    "Producer",
    "ReceivedMessage",
    "SendResult",
    "SendStatus",
    "TransactionMQProducer",
    "TransactionStatus",
    "exceptions",
    "RocketMQException",
    "NullPointerException",
    "MallocFailed",
    "ProducerException",
    "ProducerStartFailed",
    "ProducerSendSyncFailed",
    "ProducerSendOnewayFailed",
    "ProducerSendOrderlyFailed",
    "ProducerSendAsyncFailed",
    "ConsumerException",
    "PushConsumerStartFailed",
]
