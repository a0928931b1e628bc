"""The exception classes of ``rocketmq.exceptions`` (rocketmq-client-python 2.x), same names and
hierarchy, so that ``except`` clauses written for the official client keep working.

The shim raises the class the official client raises for the same call: ``ProducerStartFailed``
from ``start`` and ``shutdown``, ``ProducerSendSyncFailed`` from ``send_sync``,
``ProducerSendOnewayFailed`` from ``send_oneway``, ``ProducerSendOrderlyFailed`` from
``send_orderly_with_sharding_key``, the base ``RocketMQException`` from
``send_message_in_transaction`` (the official client has no class of its own for it) and
``NullPointerException`` for a ``None`` message or sharding key. The rmqproducer error behind it
(an :class:`rmqproducer.RmqError` with its ``kind``) is the ``__cause__``, and its text is the
message.

``ProducerSendAsyncFailed`` and the consumer classes exist only so that imports of them keep
working: the official producer never raises the first, and the shim has no consumer.
"""

from __future__ import annotations

__all__ = [
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


class RocketMQException(Exception):
    """RocketMQ exception base class."""


class NullPointerException(RocketMQException):
    """A required argument is ``None`` (the official C API's NULL_POINTER)."""


class MallocFailed(RocketMQException):
    """Kept for imports; never raised."""


class ProducerException(RocketMQException):
    """Base class of the producer failures."""


class ProducerStartFailed(ProducerException):
    """``start`` or ``shutdown`` failed, or a setter was given something the producer cannot use."""


class ProducerSendSyncFailed(ProducerException):
    """``send_sync`` failed."""


class ProducerSendOnewayFailed(ProducerException):
    """``send_oneway`` failed."""


class ProducerSendOrderlyFailed(ProducerException):
    """``send_orderly_with_sharding_key`` failed."""


class ProducerSendAsyncFailed(ProducerException):
    """Kept for imports; never raised (the official Python client has no async send either)."""

    def __init__(self, msg: str, error: int, file: str, line: int, type: str) -> None:
        super().__init__(msg)
        self.error = error
        self.file = file
        self.line = line
        self.type = type


class ConsumerException(RocketMQException):
    """Kept for imports; never raised (no consumer here)."""


class PushConsumerStartFailed(ConsumerException):
    """Kept for imports; never raised (no consumer here)."""
