"""The Python surface itself: the installed wheel, stubs, messages, options, exception classes.
None of these need the cluster."""

from __future__ import annotations

import array as arraymod
import ast
import builtins
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import rmqproducer
from rmqproducer import Message, Producer, errors

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def test_the_installed_wheel_is_under_test() -> None:
    native = Path(rmqproducer._rmqproducer.__file__)
    assert native.name.endswith(".abi3.so"), native
    assert REPO / "bindings" / "python" / "python" not in native.parents, (
        "tests must run against the installed wheel, not the source tree"
    )
    assert rmqproducer.__version__


def test_stubs_match_the_compiled_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "rmqproducer"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_examples_type_check_against_the_stubs() -> None:
    examples = sorted(str(p) for p in (REPO / "examples" / "python").glob("*.py"))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir=/dev/null", *examples],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


class TestMessage:
    def test_fields_round_trip(self) -> None:
        m = Message(
            "TopicTest",
            b"\x00body\x00",
            tags="TagA",
            keys=["k1", "k2"],
            properties={"a": "1", "b": "2"},
            delay_level=3,
            deliver_time_ms=1_700_000_000_000,
            flag=7,
            wait_store_msg_ok=False,
        )
        assert (m.topic, m.body, m.tags) == ("TopicTest", b"\x00body\x00", "TagA")
        assert m.keys == ["k1", "k2"]
        assert m.properties == {"a": "1", "b": "2"}
        assert (m.delay_level, m.deliver_time_ms, m.flag) == (3, 1_700_000_000_000, 7)
        assert m.wait_store_msg_ok is False

    def test_defaults(self) -> None:
        m = Message("T", b"x")
        assert m.tags is None and m.keys == [] and m.properties == {}
        assert m.delay_level is None and m.deliver_time_ms is None
        assert m.flag == 0 and m.wait_store_msg_ok is True

    def test_str_body_is_utf8(self) -> None:
        assert Message("T", "héllo").body == "héllo".encode()

    def test_a_bytes_body_is_held_not_copied(self) -> None:
        body = b"x" * 4096
        before = sys.getrefcount(body)
        message = Message("T", body)
        assert sys.getrefcount(body) == before + 1
        del message
        assert sys.getrefcount(body) == before

    def test_other_buffers_are_copied_once_and_later_changes_stay_out(self) -> None:
        for body in (bytearray(b"ab"), memoryview(b"xcdx")[1:3], arraymod.array("B", b"ef")):
            assert Message("T", body).body == bytes(body)
        changed = bytearray(b"ab")
        message = Message("T", changed)
        changed[0] = ord("z")
        assert message.body == b"ab"

    def test_one_str_key_is_one_key(self) -> None:
        assert Message("T", b"x", keys="order-1").keys == ["order-1"]

    def test_attributes_are_settable(self) -> None:
        m = Message("T", b"x")
        m.topic, m.body, m.tags, m.keys = "U", "y", "TagB", ("a", "b")
        m.properties = {"p": "q"}
        m.delay_level = 2
        assert (m.topic, m.body, m.tags, m.keys) == ("U", b"y", "TagB", ["a", "b"])
        assert m.properties == {"p": "q"} and m.delay_level == 2
        m.tags = None
        m.delay_level = None
        assert m.tags is None and m.delay_level is None

    def test_getters_return_copies(self) -> None:
        m = Message("T", b"x", properties={"a": "1"})
        m.properties["b"] = "2"
        m.keys.append("k")
        assert m.properties == {"a": "1"} and m.keys == []

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"body": 5},
            {"body": None},
            {"body": [1, 2]},
            {"body": b"x", "keys": 5},
            {"body": b"x", "keys": ["ok", 5]},
            {"body": b"x", "properties": ["not", "a", "mapping"]},
            {"body": b"x", "properties": {"a": 1}},
        ],
    )
    def test_wrong_types_are_type_errors(self, kwargs: dict[str, object]) -> None:
        with pytest.raises(TypeError):
            Message("T", **kwargs)  # type: ignore[arg-type]

    def test_repr_is_readable_and_bounded(self) -> None:
        m = Message("T", b"\x00" * 1000, tags="TagA", keys="k")
        text = repr(m)
        assert text.startswith("Message(topic='T', body=b'\\x00")
        assert "(1000 bytes)" in text and "tags='TagA'" in text and "keys=['k']" in text
        assert len(text) < 400


class TestProducerOptions:
    def test_every_core_option_is_a_keyword(self) -> None:
        samples: dict[str, object] = {
            "namesrv_addr": "127.0.0.1:9876",
            "instance_name": "inst",
            "create_topic_key": "TBW102",
            "serialize_type": "rocketmq",
            "latency_fault_tolerance": False,
            "retry_another_broker_when_not_store_ok": True,
            "retry_times": 1,
            "retry_times_async": 1,
            "compress_level": 9,
            "compress_type": "lz4",
            "max_async_in_flight": 10,
            "max_async_in_flight_bytes": 1048576,
            "backpressure": "fail",
            "auto_batch": True,
            "enable_msg_trace": True,
            "customized_trace_topic": "PyTraceTopic",
            "enable_metrics": True,
            "statistics_interval_ms": 0,
            "namespace": "ns1",
            "vip_channel_enabled": False,
            "access_key": "x",
            "secret_key": "x",
            "security_token": "x",
            "tls": False,
            "tls_verify": True,
            "tls_ca_file": "/etc/ssl/certs/ca-certificates.crt",
            "tls_server_name": "localhost",
        }
        for key in rmqproducer.OPTION_KEYS:
            if key == "group":
                continue  # the positional argument
            value = samples.get(key, 500)
            Producer("py_opts", **{key: value})  # type: ignore[arg-type]

    def test_the_stubs_type_every_option(self) -> None:
        stub = Path(rmqproducer.__file__).with_name("_rmqproducer.pyi")
        tree = ast.parse(stub.read_text())
        [options] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "_ProducerOptions"]
        typed = {n.target.id for n in options.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
        assert typed == set(rmqproducer.OPTION_KEYS) - {"group"}

    def test_unknown_option_lists_the_known_ones(self) -> None:
        with pytest.raises(rmqproducer.InvalidArgumentError) as caught:
            Producer("py_opts", sned_timeout_ms=10)  # type: ignore[call-arg]
        assert "sned_timeout_ms" in str(caught.value)
        assert "send_timeout_ms" in str(caught.value)
        assert isinstance(caught.value, ValueError)

    @pytest.mark.parametrize(
        "options",
        [{"send_timeout_ms": -1}, {"send_timeout_ms": "soon"}, {"compress_level": 10}],
    )
    def test_bad_values_are_invalid_arguments(self, options: dict[str, object]) -> None:
        with pytest.raises(rmqproducer.InvalidArgumentError):
            Producer("py_opts", **options)  # type: ignore[arg-type]

    def test_bad_group_is_an_error(self) -> None:
        with pytest.raises(rmqproducer.RmqError):
            Producer("bad group name!")

    def test_name_server_given_twice(self) -> None:
        with pytest.raises(rmqproducer.InvalidArgumentError, match="twice"):
            Producer("py_opts", "127.0.0.1:1", namesrv_addr="127.0.0.1:2")

    def test_none_means_default(self) -> None:
        Producer("py_opts", None, send_timeout_ms=None)  # type: ignore[arg-type]

    def test_repr_and_properties(self) -> None:
        p = Producer("py_repr", "127.0.0.1:9876")
        assert repr(p) == "Producer(group='py_repr', namesrv='127.0.0.1:9876')"
        assert (p.group, p.namesrv) == ("py_repr", "127.0.0.1:9876")
        assert Producer("py_repr", namesrv_addr="127.0.0.1:1").namesrv == "127.0.0.1:1"
        assert Producer("py_repr").namesrv is None


class TestExceptions:
    def test_one_class_per_error_kind(self) -> None:
        classes = rmqproducer._rmqproducer._error_classes()
        assert len(classes) >= 14
        for kind, name in classes.items():
            cls = getattr(errors, name)
            assert issubclass(cls, rmqproducer.RmqError)
            assert cls.kind == kind
            assert getattr(rmqproducer, name) is cls
            assert name in errors.__all__ and name in rmqproducer.__all__

    def test_builtin_bases(self) -> None:
        assert issubclass(rmqproducer.TimeoutError, builtins.TimeoutError)
        assert issubclass(rmqproducer.InvalidArgumentError, ValueError)
        assert issubclass(rmqproducer.InvalidMessageError, ValueError)
        assert issubclass(rmqproducer.EmptyBodyError, rmqproducer.InvalidMessageError)
        assert issubclass(rmqproducer.ConnectError, ConnectionError)
        assert issubclass(rmqproducer.NetworkError, ConnectionError)

    def test_fields_survive_pickling(self) -> None:
        error = rmqproducer.BrokerError(
            "[BROKER] refused", response_code=13, remark="too big", broker_addr="b:1"
        )
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is rmqproducer.BrokerError
        assert (copy.code, copy.response_code, copy.remark, copy.broker_addr) == (
            "BROKER",
            13,
            "too big",
            "b:1",
        )
        assert str(copy) == "[BROKER] refused"


def test_send_async_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError):
        Producer("py_loop").send_async(Message("T", b"x"))


def test_calls_before_start_are_illegal_state() -> None:
    p = Producer("py_not_started", "127.0.0.1:9876")
    with pytest.raises(rmqproducer.IllegalStateError):
        p.send(Message("T", b"x"))
    with pytest.raises(rmqproducer.IllegalStateError):
        p.send_oneway(Message("T", b"x"))


def test_new_calls_before_start_are_illegal_state() -> None:
    p = Producer("py_not_started_new", "127.0.0.1:9876")
    queue = rmqproducer.MessageQueue("T", "broker-a", 0)
    calls: list[Callable[[], object]] = [
        lambda: p.publish_queues("T"),
        lambda: p.send_to_queue(Message("T", b"x"), queue),
        lambda: p.send_with_sharding_key(Message("T", b"x"), "k"),
        lambda: p.send_batch([Message("T", b"x")]),
        lambda: p.request(Message("T", b"x"), 1.0),
    ]
    for call in calls:
        with pytest.raises(rmqproducer.IllegalStateError):
            call()


def test_message_queues_are_values() -> None:
    a = rmqproducer.MessageQueue("T", "broker-a", 1)
    assert a == rmqproducer.MessageQueue("T", "broker-a", 1)
    assert a != rmqproducer.MessageQueue("T", "broker-a", 2)
    assert len({a, rmqproducer.MessageQueue("T", "broker-a", 1)}) == 1
    assert (a.topic, a.broker_name, a.queue_id) == ("T", "broker-a", 1)


def test_local_transaction_states() -> None:
    states = rmqproducer.LocalTransactionState
    assert len({states.COMMIT, states.ROLLBACK, states.UNKNOWN}) == 3
    assert [int(s) for s in (states.COMMIT, states.ROLLBACK, states.UNKNOWN)] == [0, 1, 2]


def test_callback_must_be_callable() -> None:
    with pytest.raises(TypeError):
        Producer("py_cb").send_callback(Message("T", b"x"), "nope")  # type: ignore[arg-type]
