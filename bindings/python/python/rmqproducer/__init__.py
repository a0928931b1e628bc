"""rmqproducer: an Apache RocketMQ producer backed by a native Rust client.

Quick start::

    from rmqproducer import Message, Producer

    with Producer("my_group") as producer:   # name server from NAMESRV_ADDR
        result = producer.send(Message("TopicTest", b"Hello", tags="TagA"))
        print(result)

Send modes: ``send`` (blocking, the GIL released while it waits), ``await send_async``
(an asyncio future of the caller's loop), ``send_callback`` (a function called on a library
thread) and ``send_oneway`` (no answer). Also: a chosen queue (``send_to_queue``,
``send_with_selector``, ``send_with_sharding_key``), batches (``send_batch``), request-reply
(``request``), send hooks (``add_send_hook``) and transactions (:class:`TransactionProducer`). Failures raise the classes of
:mod:`rmqproducer.errors`. Logs go to the ``rmqproducer`` logger, silent by default; see
:func:`enable_logging`.
"""

from __future__ import annotations

import logging

from . import errors
from ._rmqproducer import (
    OPTION_KEYS,
    LocalTransactionState,
    Message,
    MessageQueue,
    Producer,
    SendContext,
    SendResult,
    SendStatus,
    TransactionCheck,
    TransactionProducer,
    TransactionSendResult,
    __version__,
    _set_log_level,
)
from .errors import (
    BrokerError,
    ConnectError,
    EmptyBodyError,
    GroupAlreadyExistsError,
    IllegalStateError,
    InternalError,
    InvalidArgumentError,
    InvalidMessageError,
    InvalidTopicError,
    MessageTooLargeError,
    NetworkError,
    NoNameServerError,
    NoRouteError,
    ProtocolError,
    ReservedTopicError,
    RmqError,
    ShutdownError,
    TimeoutError,
    TooManyRequestsError,
)

__all__ = [
    "OPTION_KEYS",
    "LocalTransactionState",
    "Message",
    "MessageQueue",
    "Producer",
    "SendContext",
    "SendResult",
    "SendStatus",
    "TransactionCheck",
    "TransactionProducer",
    "TransactionSendResult",
    "__version__",
    "enable_logging",
    "errors",
    "RmqError",
    "InvalidArgumentError",
    "InvalidMessageError",
    "IllegalStateError",
    "GroupAlreadyExistsError",
    "NoNameServerError",
    "NoRouteError",
    "ConnectError",
    "TimeoutError",
    "NetworkError",
    "BrokerError",
    "TooManyRequestsError",
    "ShutdownError",
    "ProtocolError",
    "InternalError",
    "InvalidTopicError",
    "ReservedTopicError",
    "EmptyBodyError",
    "MessageTooLargeError",
]

_logger = logging.getLogger(__name__)
# A library stays silent unless the application configures logging.
_logger.addHandler(logging.NullHandler())


def enable_logging(level: int = logging.DEBUG) -> None:
    """Set the ``rmqproducer`` logger's level and forward the library's log events of ``level``
    and above to it at once.

    Without it, the library forwards what that logger's effective level lets through, as read at
    import and whenever a producer is created: ``logging.getLogger("rmqproducer").setLevel(
    logging.DEBUG)`` before creating a producer is enough. Disabled events cost nothing. Records
    still need a handler to go anywhere, for example ``logging.basicConfig()``.
    """
    _set_log_level(level)
    _logger.setLevel(level)
