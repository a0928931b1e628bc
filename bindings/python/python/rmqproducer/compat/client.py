"""``rocketmq.client`` of rocketmq-client-python 2.x, the producer half, over rmqproducer.

Each call translates to one call of :class:`rmqproducer.Producer` or
:class:`rmqproducer.TransactionProducer`; validation, retries and queue selection are theirs.
See :mod:`rmqproducer.compat` for what differs from the official client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from types import TracebackType
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional, Union, cast

import rmqproducer

from .consts import MessageProperty
from .exceptions import (
    NullPointerException,
    ProducerSendOnewayFailed,
    ProducerSendOrderlyFailed,
    ProducerSendSyncFailed,
    ProducerStartFailed,
    RocketMQException,
)

if TYPE_CHECKING:
    from typing_extensions import Self

    from rmqproducer._rmqproducer import _ProducerOptions

__all__ = [
    "SendStatus",
    "SendResult",
    "Message",
    "ReceivedMessage",
    "Producer",
    "TransactionMQProducer",
    "TransactionStatus",
    "MessageProperty",
]

_Text = Union[str, bytes]


class SendStatus(IntEnum):
    OK = 0
    FLUSH_DISK_TIMEOUT = 1
    FLUSH_SLAVE_TIMEOUT = 2
    SLAVE_NOT_AVAILABLE = 3


class TransactionStatus(IntEnum):
    COMMIT = 0
    ROLLBACK = 1
    UNKNOWN = 2


class SendResult(NamedTuple):
    status: SendStatus
    msg_id: str
    """The message's unique id (UNIQ_KEY), the id consumers and the broker's tools show."""
    offset: int
    """The queue offset where the broker stored it."""


_STATES = {
    TransactionStatus.COMMIT: rmqproducer.LocalTransactionState.COMMIT,
    TransactionStatus.ROLLBACK: rmqproducer.LocalTransactionState.ROLLBACK,
    TransactionStatus.UNKNOWN: rmqproducer.LocalTransactionState.UNKNOWN,
}


def _text(value: object, what: str) -> str:
    """A text argument as the official client takes it: ``str``, or ``bytes`` in UTF-8."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


@contextmanager
def _raising(cls: type[RocketMQException]) -> Iterator[None]:
    """Re-raises a failure of rmqproducer as the official class of the call, the original kept
    as ``__cause__`` and its text as the message."""
    try:
        yield
    except rmqproducer.RmqError as error:
        raise cls(str(error)) from error


def _send_result(result: rmqproducer.SendResult) -> SendResult:
    return SendResult(SendStatus(int(result.status)), result.msg_id, result.queue_offset)


def _state(status: object, what: str) -> rmqproducer.LocalTransactionState:
    """The official callbacks' answer (a ``TransactionStatus`` or its int) for rmqproducer; any
    other answer raises the official ``ValueError``, which rmqproducer logs and counts as
    UNKNOWN, as it does for a callback that raises."""
    for known, state in _STATES.items():
        if status == known:
            return state
    raise ValueError(f"{what} status error, please use enum 'TransactionStatus' as response")


class Message:
    """A message to send: ``Message(topic)``, then the setters.

    Text arguments are ``str`` or UTF-8 ``bytes``. The body is kept byte for byte (``bytes``,
    NUL included) or UTF-8 encoded (``str``). The message is validated when sent.
    """

    def __init__(self, topic: Optional[_Text]) -> None:
        # As in the official client, a None topic is no topic: the send reports it.
        self._message = rmqproducer.Message("" if topic is None else _text(topic, "topic"), b"")

    def set_keys(self, keys: _Text) -> None:
        """The keys, one string (several keys separated by spaces, as the official client)."""
        self._message.keys = _text(keys, "keys")

    def set_tags(self, tags: _Text) -> None:
        self._message.tags = _text(tags, "tags")

    def set_body(self, body: Union[str, bytes, bytearray, memoryview]) -> None:
        self._message.body = body

    def set_property(self, key: _Text, value: _Text) -> None:
        properties = self._message.properties
        properties[_text(key, "key")] = _text(value, "value")
        self._message.properties = properties

    def set_delay_time_level(self, delay_time_level: int) -> None:
        self._message.delay_level = delay_time_level


def _core_message(msg: Optional[Message]) -> rmqproducer.Message:
    if msg is None:
        raise NullPointerException("message is None")
    if not isinstance(msg, Message):
        raise TypeError(f"msg must be a Message, not {type(msg).__name__}")
    return msg._message


class ReceivedMessage:
    """The message a transaction callback gets: ``local_execute`` the message being sent (its
    ``id`` that of the half message), the checker the half message the broker asks about.

    ``topic`` and ``id`` are ``str``; ``body``, ``tags``, ``keys`` and properties are ``bytes``
    (``b""`` when absent), as the official client returns them. ``get_property`` (and ``msg[name]``)
    knows the user properties and ``UNIQ_KEY``, ``KEYS``, ``TAGS`` and ``DELAY``.
    """

    def __init__(self, message: rmqproducer.Message, msg_id: str, born_timestamp: int = 0) -> None:
        self._message = message
        self._id = msg_id
        self._born_timestamp = born_timestamp

    @property
    def topic(self) -> str:
        return self._message.topic

    @property
    def tags(self) -> bytes:
        return (self._message.tags or "").encode()

    @property
    def keys(self) -> bytes:
        return " ".join(self._message.keys).encode()

    @property
    def body(self) -> bytes:
        return self._message.body

    @property
    def id(self) -> str:
        return self._id

    @property
    def delay_time_level(self) -> int:
        return self._message.delay_level or 0

    @property
    def born_timestamp(self) -> int:
        """When the half message was born, epoch milliseconds (the checker's message; 0 for
        ``local_execute``'s, which is not stored yet when the callback runs)."""
        return self._born_timestamp

    def get_property(self, prop: Union[MessageProperty, _Text]) -> bytes:
        name = prop.value if isinstance(prop, MessageProperty) else _text(prop, "prop")
        system = {
            "UNIQ_KEY": self._id,
            "KEYS": " ".join(self._message.keys),
            "TAGS": self._message.tags or "",
            "DELAY": str(self._message.delay_level or ""),
        }
        return self._message.properties.get(name, system.get(name, "")).encode()

    def __getitem__(self, key: Union[MessageProperty, _Text]) -> bytes:
        return self.get_property(key)

    def __str__(self) -> str:
        return self.body.decode("utf-8")

    def __bytes__(self) -> bytes:
        return self.body

    def __repr__(self) -> str:
        return f"<ReceivedMessage topic={self.topic!r} id={self.id!r} body={self.body!r}>"


_Core = Union[rmqproducer.Producer, rmqproducer.TransactionProducer]


class Producer:
    """A producer: create it, call the setters, ``start()``, send, ``shutdown()``; or
    ``with Producer(group) as producer:`` (which binds the producer).

    The setters take effect when the producer starts. Without ``set_name_server_address`` the
    name servers come from the ``NAMESRV_ADDR`` environment variable. ``orderly`` is accepted
    and, as in the official client, changes nothing: ``send_orderly_with_sharding_key`` works on
    every producer.
    """

    def __init__(
        self,
        group_id: _Text,
        orderly: bool = False,
        timeout: Optional[int] = None,
        compress_level: Optional[int] = None,
        max_message_size: Optional[int] = None,
    ) -> None:
        self._group = _text(group_id, "group_id")
        self._namesrv: Optional[str] = None
        self._options: _ProducerOptions = {}
        # The rmqproducer producer, made from the settings when first needed; remade after a
        # setter until it has started.
        self._made: Optional[_Core] = None
        self._started = False
        if timeout is not None:
            self.set_timeout(timeout)
        if compress_level is not None:
            self.set_compress_level(compress_level)
        if max_message_size is not None:
            self.set_max_message_size(max_message_size)

    def _make(self) -> _Core:
        return rmqproducer.Producer(self._group, self._namesrv, **self._options)

    def _core(self) -> _Core:
        if self._made is None:
            self._made = self._make()
        return self._made

    def _sender(self) -> rmqproducer.Producer:
        core = self._core()
        return core.producer if isinstance(core, rmqproducer.TransactionProducer) else core

    def _changed(self) -> None:
        if not self._started:
            self._made = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.shutdown()

    def send_sync(self, msg: Message) -> SendResult:
        message = _core_message(msg)
        with _raising(ProducerSendSyncFailed):
            return _send_result(self._sender().send(message))

    def send_oneway(self, msg: Message) -> None:
        message = _core_message(msg)
        with _raising(ProducerSendOnewayFailed):
            self._sender().send_oneway(message)

    def send_orderly_with_sharding_key(self, msg: Message, sharding_key: _Text) -> SendResult:
        """Sends to the queue Java's ``SelectMessageQueueByHash`` picks for the key (so Java and
        this producer put a key on the same queue), one attempt; like the official client, it
        also stores the key in the message's ``__SHARDINGKEY`` property."""
        message = _core_message(msg)
        if sharding_key is None:
            raise NullPointerException("sharding_key is None")
        key = _text(sharding_key, "sharding_key")
        msg.set_property("__SHARDINGKEY", key)
        with _raising(ProducerSendOrderlyFailed):
            return _send_result(self._sender().send_with_sharding_key(message, key))

    def set_group(self, group_name: _Text) -> None:
        self._group = _text(group_name, "group_name")
        self._changed()

    def set_instance_name(self, name: _Text) -> None:
        self._options["instance_name"] = _text(name, "name")
        self._changed()

    def set_name_server_address(self, addr: _Text) -> None:
        """Name servers, ``"host:port;host:port"``."""
        self._namesrv = _text(addr, "addr")
        self._changed()

    def set_name_server_domain(self, domain: _Text) -> None:
        """Not supported: rmqproducer does not look name servers up from an HTTP address
        server. Raises ``ProducerStartFailed`` (what the official client raises for a setter
        that fails), so that a producer never starts without the name servers it asked for."""
        raise ProducerStartFailed(
            f"set_name_server_domain({_text(domain, 'domain')!r}): rmqproducer has no HTTP "
            "name server lookup; use set_name_server_address or NAMESRV_ADDR"
        )

    def set_session_credentials(
        self, access_key: _Text, access_secret: _Text, channel: _Text
    ) -> None:
        """ACL credentials that sign every request. ``channel`` (the ONS channel of Aliyun's
        service) is checked for its type and otherwise unused: Apache brokers do not read it."""
        self._options["access_key"] = _text(access_key, "access_key")
        self._options["secret_key"] = _text(access_secret, "access_secret")
        _text(channel, "channel")
        self._changed()

    def set_timeout(self, timeout: int) -> None:
        """Send timeout in milliseconds, retries included."""
        self._options["send_timeout_ms"] = timeout
        self._changed()

    def set_compress_level(self, level: int) -> None:
        self._options["compress_level"] = level
        self._changed()

    def set_max_message_size(self, max_size: int) -> None:
        self._options["max_message_size"] = max_size
        self._changed()

    def set_message_trace(self, message_trace: object) -> None:
        """Message trace on (truthy) or off: Java's trace records, for ``mqadmin``."""
        self._options["enable_msg_trace"] = bool(message_trace)
        self._changed()

    def start(self) -> None:
        with _raising(ProducerStartFailed):
            self._core().start()
        self._started = True

    def shutdown(self) -> None:
        if not self._started:
            return  # as the official client: nothing started, nothing to stop; start() still works
        with _raising(ProducerStartFailed):
            self._core().shutdown()


_Checker = Callable[[ReceivedMessage], object]
_LocalExecute = Callable[[ReceivedMessage, object], object]


class TransactionMQProducer(Producer):
    """A producer of transactional messages. ``checker_callback(msg)`` answers the broker's
    checks on a library thread; a checker that raises or answers something else than a
    ``TransactionStatus`` counts as UNKNOWN (the broker asks again later) and is logged to the
    ``rmqproducer`` logger. ``user_args`` is accepted and, as in the official client, not passed
    to the checker."""

    def __init__(
        self,
        group_id: _Text,
        checker_callback: _Checker,
        user_args: object = None,
        timeout: Optional[int] = None,
        compress_level: Optional[int] = None,
        max_message_size: Optional[int] = None,
    ) -> None:
        if not callable(checker_callback):
            raise TypeError("checker_callback must be callable")
        self._checker = checker_callback
        super().__init__(
            group_id,
            timeout=timeout,
            compress_level=compress_level,
            max_message_size=max_message_size,
        )

    def _check(self, asked: rmqproducer.TransactionCheck) -> rmqproducer.LocalTransactionState:
        msg = ReceivedMessage(asked.message, asked.msg_id, asked.born_timestamp)
        return _state(self._checker(msg), "Check transaction")

    def _make(self) -> _Core:
        return rmqproducer.TransactionProducer(
            self._group, self._namesrv, check=self._check, **self._options
        )

    def send_message_in_transaction(
        self, message: Message, local_execute: _LocalExecute, user_args: object = None
    ) -> SendResult:
        """Sends ``message`` as a half message, calls ``local_execute(msg, user_args)`` on this
        thread and commits, rolls back or leaves it to the checker (UNKNOWN) as it answers; one
        that raises or answers something else counts as UNKNOWN and is logged. Returns the half
        message's result; a failed send raises ``RocketMQException``."""
        core_message = _core_message(message)
        if not callable(local_execute):
            raise TypeError("local_execute must be callable")

        def local(
            msg: rmqproducer.Message, half: rmqproducer.SendResult
        ) -> rmqproducer.LocalTransactionState:
            received = ReceivedMessage(msg, half.msg_id)
            return _state(local_execute(received, user_args), "Local transaction")

        with _raising(RocketMQException):
            core = cast(rmqproducer.TransactionProducer, self._core())  # what _make made
            return _send_result(core.send_in_transaction(core_message, local).send_result)
