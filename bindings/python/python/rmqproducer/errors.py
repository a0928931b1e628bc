"""The exceptions of rmqproducer: a base class and one subclass per kind of failure.

Every exception raised by the library for a failure it detects is an :class:`RmqError`;
catch the subclasses to tell failures apart. A few also derive from the built-in class
Python code usually catches for that kind of failure:

- :class:`TimeoutError` is also a ``builtins.TimeoutError``;
- :class:`InvalidArgumentError` and :class:`InvalidMessageError` (with its subclasses
  :class:`InvalidTopicError`, :class:`ReservedTopicError`, :class:`EmptyBodyError` and
  :class:`MessageTooLargeError`) are also ``ValueError``;
- :class:`ConnectError` and :class:`NetworkError` are also ``ConnectionError``.

Misuse of the Python API itself (a body that is not bytes or str, a callback that is not
callable) raises the usual ``TypeError``.
"""

from __future__ import annotations

import builtins
from typing import ClassVar, Optional

__all__ = [
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


class RmqError(Exception):
    """A failure reported by rmqproducer.

    ``str(error)`` is ``"[KIND] what happened"``. The attributes say more when known:

    - ``kind``: the error kind's stable name, such as ``"TIMEOUT"`` (a class attribute);
    - ``code``: the same name (what the Node binding's ``err.code`` holds);
    - ``response_code``: the response code of the broker or name server that refused the
      request (:class:`BrokerError`), else ``None``;
    - ``remark``: the remark that came with that response, else ``None``;
    - ``broker_addr``: the address of the server involved, else ``None``;
    - ``retriable``: whether the same send may succeed when tried again later.
    """

    kind: ClassVar[str] = "UNKNOWN"

    def __init__(
        self,
        message: str,
        *,
        response_code: Optional[int] = None,
        remark: Optional[str] = None,
        broker_addr: Optional[str] = None,
        retriable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.response_code = response_code
        self.remark = remark
        self.broker_addr = broker_addr
        self.retriable = retriable

    @property
    def code(self) -> str:
        """The error kind's name, such as ``"TIMEOUT"`` (the same as ``kind``)."""
        return self.kind

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the attributes across pickling (multiprocessing sends exceptions that way).
        return (type(self), (self.message,), self.__dict__)


class InvalidArgumentError(RmqError, ValueError):
    """A bad argument: an unknown producer option, or an option value that does not parse."""

    kind = "INVALID_ARGUMENT"


class InvalidMessageError(RmqError, ValueError):
    """The message fails validation before any network traffic. This class itself is raised for
    bad properties or delay; the subclasses below for the topic and the body."""

    kind = "INVALID_MESSAGE"


class InvalidTopicError(InvalidMessageError):
    """The topic is blank, too long, or has characters outside ``[%|a-zA-Z0-9_-]``."""

    kind = "INVALID_TOPIC"


class ReservedTopicError(InvalidMessageError):
    """The topic is a system topic that producers may not send to."""

    kind = "RESERVED_TOPIC"


class EmptyBodyError(InvalidMessageError):
    """The message body is empty."""

    kind = "EMPTY_BODY"


class MessageTooLargeError(InvalidMessageError):
    """The message is larger than the ``max_message_size`` option."""

    kind = "MESSAGE_TOO_LARGE"


class IllegalStateError(RmqError):
    """The call does not fit the producer's state (not started, started twice, used in a
    forked child, or a blocking call from a library callback)."""

    kind = "ILLEGAL_STATE"


class GroupAlreadyExistsError(RmqError):
    """Another producer of the same group already runs in this process."""

    kind = "GROUP_ALREADY_EXISTS"


class NoNameServerError(RmqError):
    """No name server address: neither ``namesrv`` nor ``NAMESRV_ADDR`` is set."""

    kind = "NO_NAME_SERVER"


class NoRouteError(RmqError):
    """No broker serves the topic, and no route to auto-create it exists either."""

    kind = "NO_ROUTE"


class ConnectError(RmqError, builtins.ConnectionError):
    """A TCP connection to a name server or broker could not be established."""

    kind = "CONNECT"


class TimeoutError(RmqError, builtins.TimeoutError):
    """The deadline (``send_timeout_ms``, ``client_api_timeout_ms``) passed without an answer."""

    kind = "TIMEOUT"


class NetworkError(RmqError, builtins.ConnectionError):
    """The connection failed or closed while the request was in flight."""

    kind = "NETWORK"


class BrokerError(RmqError):
    """The broker or name server refused the request; see ``response_code`` and ``remark``."""

    kind = "BROKER"


class TooManyRequestsError(RmqError):
    """Too many requests in flight (``max_in_flight_per_connection``)."""

    kind = "TOO_MANY_REQUESTS"


class ShutdownError(RmqError):
    """The producer shut down before the send completed."""

    kind = "SHUTDOWN"


class ProtocolError(RmqError):
    """A peer sent bytes that are not the RocketMQ remoting protocol."""

    kind = "PROTOCOL"


class InternalError(RmqError):
    """A bug inside rmqproducer (a caught panic); please report it."""

    kind = "INTERNAL"
