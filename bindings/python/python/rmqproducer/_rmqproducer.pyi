"""Type stubs of the native module (checked against it by ``mypy.stubtest`` in the tests)."""

import asyncio
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, ClassVar, Final, Literal, Optional, TypedDict, Union, final

from typing_extensions import Buffer, Self, Unpack

from .errors import RmqError

__all__ = [
    "LocalTransactionState",
    "Message",
    "MessageQueue",
    "OPTION_KEYS",
    "Producer",
    "SendContext",
    "SendResult",
    "SendStatus",
    "TransactionCheck",
    "TransactionProducer",
    "TransactionSendResult",
    "__version__",
    "_error_classes",
    "_set_log_level",
]

__version__: Final[str]
OPTION_KEYS: Final[dict[str, str]]
"""Every producer option keyword, with what it means and its default."""

class _ProducerOptions(TypedDict, total=False):
    # options: generated from rmq_core::producer::OPTIONS (rmq-core/tests/option_docs.rs)
    namesrv_addr: str
    """Name servers, `host:port;host:port` (default: the NAMESRV_ADDR environment variable, read at start)."""
    instance_name: str
    """Client instance name (default: pid-based)."""
    send_timeout_ms: int
    """Total time budget of one send, all retries included (default: 3000)."""
    retry_times: int
    """Retries of a sync send, 0-16: the blocking forms, `send`, `send_batch`, `send_to_queue` and the selector forms (default: 2)."""
    retry_times_async: int
    """Retries of an async send, 0-16: `send_async`, `send_callback`, `send_batch_async`, `request` and the other async forms (default: 2)."""
    compress_threshold: int
    """Compress bodies of at least this many bytes (default: 4096)."""
    compress_level: int
    """Level of zlib compression, 0-9 (default: 5)."""
    max_message_size: int
    """Largest body accepted, bytes (default: 4194304)."""
    default_topic_queue_nums: int
    """Queues of an auto-created topic (default: 4)."""
    create_topic_key: str
    """Topic that auto-created topics inherit from (default: TBW102)."""
    latency_fault_tolerance: bool
    """Avoid slow or failed brokers for a while (default: true)."""
    retry_another_broker_when_not_store_ok: bool
    """Retry a sync send whose status is not SEND_OK on another broker (the first copy stays stored) (default: false)."""
    heartbeat_interval_ms: int
    """Heartbeat period (default: 30000)."""
    poll_namesrv_interval_ms: int
    """Route refresh period (default: 30000)."""
    client_api_timeout_ms: int
    """Timeout of name server and heartbeat requests (default: 3000)."""
    serialize_type: Literal["json", "rocketmq"]
    """Request header encoding: rocketmq (binary) or json; the servers answer in JSON either way (default: rocketmq)."""
    max_in_flight_per_connection: int
    """Bound on requests in flight per connection (default: 65535)."""
    shutdown_timeout_ms: int
    """How long shutdown waits for async sends and requests in flight (default: 3000)."""
    compress_type: Literal["zlib", "lz4", "zstd"]
    """Algorithm for bodies of at least `compress_threshold` bytes (default: zlib)."""
    max_async_in_flight: int
    """Bound on async sends and requests in flight, 0 for none (default: 10000)."""
    max_async_in_flight_bytes: int
    """Bound on body bytes of async sends and requests in flight (128 MiB), 0 for none (default: 134217728)."""
    backpressure: Literal["block", "fail"]
    """When an async bound is reached: block (wait for room within the send timeout) or fail (refuse at once with TOO_MANY_REQUESTS); awaitables wait inside the library, never blocking the event loop (default: block)."""
    auto_batch: bool
    """Gather sync and async sends of one topic (and queue) into batch requests, each message still answered on its own (Java 5.x autoBatch) (default: false)."""
    batch_max_delay_ms: int
    """How long a gathered batch waits for more messages, 1 to 30000 (default: 10)."""
    batch_max_bytes: int
    """A gathered batch is sent once its bodies reach this many bytes, 1 to 2097152 (default: 32768)."""
    total_batch_max_bytes: int
    """Bound on body bytes waiting in gathered batches (32 MiB); beyond it sends go out alone (default: 33554432)."""
    enable_msg_trace: bool
    """Write a trace record (Java's message trace) for every send the broker answers, sent in batches to the trace topic; never slows or fails a send (default: false)."""
    customized_trace_topic: str
    """Topic the trace records go to; empty means RMQ_SYS_TRACE_TOPIC (default: RMQ_SYS_TRACE_TOPIC)."""
    enable_metrics: bool
    """Count sends, attempts, latency per broker and the rest of the producer's statistics (`stats()`); off, the statistics stay empty (default: true)."""
    statistics_interval_ms: int
    """How often the statistics callback gets a snapshot; 0 never calls it (default: 0)."""
    namespace: str
    """Namespace: topics become `<namespace>%<topic>` (default: none)."""
    vip_channel_enabled: bool
    """Send to the brokers' VIP channel, listen port - 2 (default: false)."""
    access_key: str
    """Access key for brokers with authentication on (default: none)."""
    secret_key: str
    """Secret key that signs every request (default: none)."""
    security_token: str
    """Security token sent with the access key (default: none)."""
    tls: bool
    """TLS on every connection (default: false)."""
    tls_verify: bool
    """Check server certificates; false accepts any, for self-signed test servers (default: true)."""
    tls_ca_file: str
    """PEM file of trusted CA certificates (default: the system's)."""
    tls_server_name: str
    """Name server certificates must show (default: the address's host)."""
    tls_cert_file: str
    """PEM file of the client certificate chain, for servers that require one (mutual TLS); with `tls_key_file` or `tls_key_pem`, read at start (default: none)."""
    tls_key_file: str
    """PEM file of the client certificate's private key (PKCS#8, PKCS#1 or SEC1, unencrypted) (default: none)."""
    tls_cert_pem: str
    """The client certificate chain as PEM text, instead of `tls_cert_file` (default: none)."""
    tls_key_pem: str
    """The client certificate's private key as PEM text, instead of `tls_key_file` (default: none)."""
    # end of generated options

_Body = Union[str, Buffer]

@final
class Message:
    """A message to send; validated by the producer at send time."""

    def __new__(
        cls,
        topic: str,
        body: _Body,
        tags: Optional[str] = None,
        keys: Union[str, Iterable[str], None] = None,
        properties: Optional[Mapping[str, str]] = None,
        delay_level: Optional[int] = None,
        deliver_time_ms: Optional[int] = None,
        *,
        flag: int = 0,
        wait_store_msg_ok: bool = True,
        send_timeout_ms: Optional[int] = None,
    ) -> Self: ...
    topic: str
    @property
    def body(self) -> bytes:
        """The body as bytes (a ``str`` body is stored UTF-8 encoded)."""
    @body.setter
    def body(self, value: _Body) -> None: ...
    tags: Optional[str]
    @property
    def keys(self) -> list[str]:
        """A copy of the keys; assign a new value to change them."""
    @keys.setter
    def keys(self, value: Union[str, Iterable[str], None]) -> None: ...
    @property
    def properties(self) -> dict[str, str]:
        """A copy of the user properties; assign a new mapping to change them."""
    @properties.setter
    def properties(self, value: Optional[Mapping[str, str]]) -> None: ...
    delay_level: Optional[int]
    deliver_time_ms: Optional[int]
    flag: int
    wait_store_msg_ok: bool
    send_timeout_ms: Optional[int]
    """The time budget of each send of this message, retries included, in milliseconds (1 to
    86400000): it replaces the producer's ``send_timeout_ms``; a batch takes the smallest of its
    messages'. ``None`` keeps the producer's."""

@final
class SendStatus:
    """The broker's verdict on a stored message."""

    SEND_OK: ClassVar[SendStatus]
    FLUSH_DISK_TIMEOUT: ClassVar[SendStatus]
    FLUSH_SLAVE_TIMEOUT: ClassVar[SendStatus]
    SLAVE_NOT_AVAILABLE: ClassVar[SendStatus]
    def __int__(self) -> int: ...

@final
class MessageQueue:
    """A queue of a topic on one broker; ``Producer.publish_queues`` lists the writable ones."""

    def __new__(cls, topic: str, broker_name: str, queue_id: int) -> Self: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def broker_name(self) -> str: ...
    @property
    def queue_id(self) -> int: ...

@final
class SendResult:
    @property
    def status(self) -> SendStatus: ...
    @property
    def ok(self) -> bool:
        """Whether the status is ``SEND_OK``."""
    @property
    def msg_id(self) -> str:
        """The client-generated unique id (UNIQ_KEY), the id to look a message up by."""
    @property
    def offset_msg_id(self) -> str:
        """The broker's id: store host and commit log offset."""
    @property
    def msg_ids(self) -> list[str]:
        """The UNIQ_KEY of each message: one, or one per message of a batch, in its order."""
    @property
    def offset_msg_ids(self) -> list[str]:
        """The broker's id of each message, as ``msg_ids``."""
    @property
    def queue(self) -> MessageQueue: ...
    @property
    def queue_offset(self) -> int: ...
    @property
    def transaction_id(self) -> Optional[str]: ...
    @property
    def region_id(self) -> str: ...
    @property
    def trace_on(self) -> bool: ...
    @property
    def recall_handle(self) -> Optional[str]:
        """What ``Producer.recall`` takes to cancel this timer message (``deliver_time_ms``) before
        it is due; set by RocketMQ 5.3.2+ brokers, ``None`` for other messages."""

_SendCallback = Callable[[Optional[SendResult], Optional[RmqError]], object]
_QueueSelector = Callable[[list[MessageQueue], Message], int]

@final
class SendContext:
    """One attempt to send to a broker, as a send hook sees it."""

    @property
    def group(self) -> str: ...
    @property
    def queue(self) -> MessageQueue: ...
    @property
    def broker_addr(self) -> str:
        """The broker master's address."""
    @property
    def msg_id(self) -> str:
        """The UNIQ_KEY (a batch: its messages' ids joined with ',')."""
    @property
    def attempt(self) -> int:
        """0 for the first attempt of a send, 1 for its first retry, ..."""
    @property
    def batch(self) -> bool: ...
    @property
    def oneway(self) -> bool: ...

_BeforeSendHook = Callable[[SendContext], object]
_AfterSendHook = Callable[[SendContext, float, Optional[SendResult], Optional[RmqError]], object]

@final
class Producer:
    """A RocketMQ producer. One instance may be shared by many threads and coroutines."""

    def __new__(
        cls,
        group: str,
        namesrv: Optional[str] = None,
        **options: Unpack[_ProducerOptions],
    ) -> Self: ...
    @property
    def group(self) -> str: ...
    @property
    def namesrv(self) -> Optional[str]:
        """The name servers given, or ``None`` when they come from ``NAMESRV_ADDR``."""
    @property
    def in_flight(self) -> int:
        """Async sends and requests started and not yet completed."""
    @property
    def trace_stats(self) -> dict[str, int]:
        """What became of the message-trace records (``enable_msg_trace``): ``sent``,
        ``dropped`` (the trace queue was full), ``failed`` (their trace send failed)."""
    def stats(self) -> dict[str, Any]:
        """What the producer did so far: ``sends`` (by form, then outcome), ``attempts``,
        ``retries``, ``bytes_sent``, ``send_latency_ms`` (by broker), ``in_flight``,
        ``in_flight_bytes``, ``backpressure_waits``, ``backpressure_refusals``,
        ``route_refreshes``, ``route_refresh_failures``, ``connections_opened``,
        ``connections_lost``, ``isolated_brokers``."""
    def set_statistics_callback(self, callback: Callable[[dict[str, Any]], object]) -> None:
        """``callback(stats)`` every ``statistics_interval_ms``, on the delivery thread; the
        first exception it raises is logged."""
    def start(self) -> None: ...
    def shutdown(self) -> None: ...
    def send(self, msg: Message) -> SendResult: ...
    def send_async(self, msg: Message) -> asyncio.Future[SendResult]:
        """Starts a send and returns a future of its result; a send refused at once (invalid
        message, not started, no room with ``backpressure="fail"``) raises here instead. It
        never blocks the event loop: a full producer makes the send wait inside its task."""
    def send_callback(self, msg: Message, callback: _SendCallback) -> None:
        """Starts a send whose outcome goes to ``callback(result, error)``, once, on the delivery
        thread. A refused send raises here and never calls back; with
        ``backpressure="block"`` a full producer holds this thread (without the GIL)."""
    def send_oneway(self, msg: Message) -> None: ...
    def publish_queues(self, topic: str) -> list[MessageQueue]:
        """The writable queues of ``topic``, in the order selectors see them."""
    def recall(self, topic: str, handle: str) -> str:
        """Cancels the timer message whose ``SendResult.recall_handle`` is ``handle`` so that it
        is never delivered; returns its ``msg_id``. Needs a RocketMQ 5.3.2+ broker with
        ``recallMessageEnable=true``. A handle that does not decode raises
        ``InvalidArgumentError`` at once; the broker's refusals (another topic's handle, a
        message already due) raise ``BrokerError`` with its ``response_code`` and ``remark``."""
    def recall_async(self, topic: str, handle: str) -> asyncio.Future[str]: ...
    def send_to_queue(self, msg: Message, queue: MessageQueue) -> SendResult: ...
    def send_to_queue_async(
        self, msg: Message, queue: MessageQueue
    ) -> asyncio.Future[SendResult]: ...
    def send_with_selector(self, msg: Message, selector: _QueueSelector) -> SendResult:
        """Sends to ``publish_queues(msg.topic)[selector(queues, msg)]``; the selector runs on
        the delivery thread. A bad index or a raising selector is an ``InvalidArgumentError``."""
    def send_with_sharding_key(self, msg: Message, key: str) -> SendResult:
        """Sends to the queue the Java client's ``SelectMessageQueueByHash`` picks for ``key``."""
    def send_with_sharding_key_async(
        self, msg: Message, key: str
    ) -> asyncio.Future[SendResult]: ...
    def send_batch(self, msgs: Iterable[Message]) -> SendResult: ...
    def send_batch_async(self, msgs: Iterable[Message]) -> asyncio.Future[SendResult]: ...
    def request(self, msg: Message, timeout: float = 3.0) -> Message:
        """Sends ``msg`` and waits up to ``timeout`` seconds for the reply message."""
    def request_async(self, msg: Message, timeout: float = 3.0) -> asyncio.Future[Message]: ...
    def add_send_hook(
        self,
        before: Optional[_BeforeSendHook] = None,
        after: Optional[_AfterSendHook] = None,
    ) -> None:
        """Functions called on the delivery thread around every send attempt; an exception
        they raise is logged."""
    def flush(self, timeout: float = 30.0) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
        /,
    ) -> bool: ...
    def __aenter__(self) -> asyncio.Future[Self]: ...
    def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
        /,
    ) -> asyncio.Future[bool]: ...

@final
class LocalTransactionState:
    """How a local transaction ended."""

    COMMIT: ClassVar[LocalTransactionState]
    ROLLBACK: ClassVar[LocalTransactionState]
    UNKNOWN: ClassVar[LocalTransactionState]
    def __int__(self) -> int: ...

@final
class TransactionCheck:
    """A half message whose outcome the broker asks about."""

    @property
    def msg_id(self) -> str: ...
    @property
    def transaction_id(self) -> Optional[str]: ...
    @property
    def message(self) -> Message: ...
    @property
    def born_timestamp(self) -> int: ...
    @property
    def check_times(self) -> int: ...

@final
class TransactionSendResult:
    @property
    def send_result(self) -> SendResult: ...
    @property
    def local_state(self) -> LocalTransactionState: ...

_LocalTransaction = Callable[[Message, SendResult], LocalTransactionState]
_TransactionChecker = Callable[[TransactionCheck], LocalTransactionState]

@final
class TransactionProducer:
    """A producer of transactional messages; ``check`` answers the broker's checks."""

    def __new__(
        cls,
        group: str,
        namesrv: Optional[str] = None,
        *,
        check: _TransactionChecker,
        **options: Unpack[_ProducerOptions],
    ) -> Self: ...
    @property
    def group(self) -> str: ...
    @property
    def producer(self) -> Producer:
        """A ``Producer`` sharing this one's group and connections, for ordinary sends."""
    def start(self) -> None: ...
    def shutdown(self) -> None: ...
    def send_in_transaction(
        self, msg: Message, local: _LocalTransaction
    ) -> TransactionSendResult: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
        /,
    ) -> bool: ...

def _set_log_level(level: int) -> None: ...
def _error_classes() -> dict[str, str]: ...
