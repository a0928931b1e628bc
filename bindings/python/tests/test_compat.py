"""rmqproducer.compat, the producer half of rocketmq-client-python 2.x: programs written for the
official client (ours in compat_programs/, and the official samples, fetched from PyPI at test
time) run against the real cluster with only their import changed, and what they sent is read
back by the cluster's own (Java) reader; bad inputs raise the official exception classes."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import pytest

import rmqproducer
from rmqproducer import compat
from rmqproducer.compat import (
    Message,
    NullPointerException,
    Producer,
    ProducerException,
    ProducerSendOnewayFailed,
    ProducerSendOrderlyFailed,
    ProducerSendSyncFailed,
    ProducerStartFailed,
    ReceivedMessage,
    RocketMQException,
    SendStatus,
    TransactionMQProducer,
    TransactionStatus,
)
from rmqproducer.compat import exceptions as compat_exceptions

if TYPE_CHECKING:
    from conftest import Cluster

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
PROGRAMS = HERE / "compat_programs"
# The official client's last release; its sdist ships samples/producer.py. Fetched at test time
# into the ignored .cache/, never committed.
OFFICIAL = "rocketmq-client-python-2.0.0"
OFFICIAL_CACHE = REPO / ".cache" / "compat-python"
# How long the broker may take to ask about an UNKNOWN transaction: its transactionCheckInterval
# (`make test` sets 2 s; a broker's default is 30 s or more).
CHECK_WAIT_S = 240


def run(args: list[str], cwd: Path, env: Optional[dict[str, str]] = None, timeout: float = 120) -> str:
    """Runs a program with this interpreter (the installed wheel), outside the source tree; its
    stdout, once it exited 0."""
    done = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def read_slowly(cluster: Cluster, topic: str, expect: int) -> list[dict[str, Any]]:
    """What the cluster's reader prints for `read-topic --expect`, waiting as long as a
    transaction check may take: one record per stored message, its body decoded."""
    out = cluster.run(
        "read-topic", topic, "--expect", str(expect), "--timeout-ms", str(CHECK_WAIT_S * 1000),
        timeout=CHECK_WAIT_S + 60,
    )
    records = json_lines(out)
    for record in records:
        record["body"] = base64.b64decode(record["bodyBase64"])
    return records


def java_queue_for_key(cluster: Cluster, topic: str, key: str) -> tuple[str, int]:
    """Where the official Java client puts a message sent with `--sharding-key key`."""
    sent = json.loads(cluster.run("send", topic, f"java {key}", "--sharding-key", key).strip())
    assert sent["status"] == "SEND_OK", sent
    return sent["brokerName"], sent["queueId"]


# --- programs written for the official client, unchanged but for the import line ------------


@pytest.mark.cluster
def test_the_readme_producer_runs_unchanged(
    namesrv: str, topic: str, group: str, tmp_path: Path, cluster: Cluster
) -> None:
    out = run([str(PROGRAMS / "readme_producer.py"), topic, group], tmp_path)
    status, msg_id, offset = out.split()
    assert status in ("0", "SendStatus.OK"), out  # IntEnum prints "0" from Python 3.11 on
    assert int(offset) >= 0
    [stored] = cluster.read_topic(topic, 1)
    assert stored.msg_id == msg_id
    assert (stored.body, stored.keys, stored.tags) == (b"XXXX", "XXX", "XXX")


@pytest.mark.cluster
def test_every_send_mode_runs_unchanged(
    namesrv: str, topic: str, group: str, tmp_path: Path, cluster: Cluster
) -> None:
    cluster.create_topic(topic, 4)
    sent = json_lines(run([str(PROGRAMS / "producer_modes.py"), topic, group], tmp_path))
    assert [line["mode"] for line in sent] == ["sync"] * 5 + ["oneway"] * 3 + ["orderly"] * 5 + [
        "delayed"
    ]
    stored = {m.body: m for m in cluster.read_topic(topic, len(sent))}
    assert len(stored) == len(sent)
    orderly_queues = set()
    for line in sent:
        found = stored[bytes.fromhex(line["body"])]  # binary bodies, NUL and 0xFF included
        assert (found.keys, found.tags, found.properties.get("property")) == (
            "KEY1 KEY2", "TagA", "test"
        ), line
        if line["mode"] != "oneway":
            assert line["status"] == SendStatus.OK and found.msg_id == line["msg_id"], line
        if line["mode"] == "orderly":
            assert (found.all_properties or {}).get("__SHARDINGKEY") == "orderId"
            orderly_queues.add((found.broker_name, found.queue_id))
        if line["mode"] == "delayed":
            assert (found.all_properties or {}).get("DELAY") == "1"
    # One queue for the key, the one the Java client picks for it.
    assert orderly_queues == {java_queue_for_key(cluster, topic, "orderId")}


@pytest.mark.cluster
def test_a_transaction_program_runs_unchanged(
    namesrv: str, topic: str, group: str, tmp_path: Path, cluster: Cluster
) -> None:
    lines = json_lines(
        run([str(PROGRAMS / "producer_transaction.py"), topic, group], tmp_path, timeout=CHECK_WAIT_S + 60)
    )
    sent = {line["sent"]: line["msg_id"] for line in lines if "sent" in line}
    assert list(sent) == ["commit", "rollback", "unknown"]
    assert all(line["status"] == SendStatus.OK for line in lines if "sent" in line)
    local = [line for line in lines if line.get("callback") == "local"]
    checks = [line for line in lines if line.get("callback") == "check"]
    # The callbacks got the message as sent, with the half message's id.
    for seen in local + checks:
        body = seen["body"]
        assert seen == {
            "callback": seen["callback"], "id": sent[body], "topic": topic, "body": body,
            "keys": "KEY_" + body, "tags": "TagTx", "property": body, "uniq_key": sent[body],
            "str": body,
        }
    assert [seen["body"] for seen in local] == list(sent)
    assert "unknown" in {seen["body"] for seen in checks}
    # Committed locally and by the checker; the rolled-back one never appears (a check may
    # commit twice when the broker asks again before the first answer landed).
    stored = read_slowly(cluster, topic, 2)
    assert {m["body"]: m["msgId"] for m in stored} == {
        b"commit": sent["commit"], b"unknown": sent["unknown"]
    }


# --- the official samples, as they are ---------------------------------------------------------


def pypi_unreachable() -> Optional[str]:
    try:
        urllib.request.urlopen("https://pypi.org/simple/rocketmq-client-python/", timeout=15).close()
    except OSError as error:
        return str(error)
    return None


@pytest.fixture(scope="session")
def official_samples() -> Path:
    """The sdist of the official client, unpacked; its `samples/producer.py` is what it ships."""
    folder = OFFICIAL_CACHE / OFFICIAL
    if not (folder / "samples" / "producer.py").is_file():
        OFFICIAL_CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
             "--no-binary", ":all:", "-d", str(OFFICIAL_CACHE), "rocketmq-client-python==2.0.0"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            unreachable = pypi_unreachable()
            if unreachable:
                pytest.skip(f"PyPI is unreachable ({unreachable}): cannot fetch {OFFICIAL}")
            pytest.fail(f"pip download {OFFICIAL} failed:\n{done.stdout}\n{done.stderr}")
        with tarfile.open(OFFICIAL_CACHE / f"{OFFICIAL}.tar.gz") as sdist:
            members = sdist.getmembers()
            inside = [m.name == OFFICIAL or m.name.startswith(OFFICIAL + "/") for m in members]
            assert all(inside) and not any(".." in m.name for m in members)
            assert all(m.isfile() or m.isdir() for m in members)
            sdist.extractall(OFFICIAL_CACHE, members)
    return folder


@pytest.fixture
def rocketmq_alias(tmp_path: Path, official_samples: Path) -> dict[str, str]:
    """The environment of the official samples: a test-time `rocketmq` package whose modules
    re-export rmqproducer.compat's, ahead of the sdist's own (which needs the C++ library)."""
    package = tmp_path / "alias" / "rocketmq"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for module in ("client", "exceptions", "consts"):
        (package / f"{module}.py").write_text(f"from rmqproducer.compat.{module} import *  # noqa\n")
    return {"PYTHONPATH": os.pathsep.join([str(tmp_path / "alias"), str(official_samples)])}


# The samples hard-code their name server (127.0.0.1:9876), topic and group as module globals
# and read no environment or argument: this driver imports the sample module as it is, points
# those three globals at the cluster under test, a fresh topic and a fresh group (the cluster is
# shared), and calls its functions.
SAMPLE_DRIVER = """
import sys
import samples.producer as sample
sample.name_srv, sample.topic, sample.gid = sys.argv[1:4]
for call in sys.argv[4:]:
    eval("sample." + call)
"""


def sample_ids(output: str) -> list[str]:
    return [line.split(" msgId: ")[1] for line in output.splitlines() if " msgId: " in line]


def assert_sample_messages(stored: list[dict[str, Any]]) -> None:
    """What the samples' `create_message` makes."""
    for found in stored:
        assert (found["body"], found["keys"], found["tags"]) == (b"message body", "XXX", "XXX")
        assert found["userProperties"]["property"] == "test"


@pytest.mark.cluster
def test_the_official_producer_samples_run_as_they_are(
    official_samples: Path,
    rocketmq_alias: dict[str, str],
    tmp_path: Path,
    namesrv: str,
    topic: str,
    group: str,
    cluster: Cluster,
) -> None:
    sample = (official_samples / "samples" / "producer.py").read_text()
    assert "from rocketmq.client import Producer, Message" in sample
    cluster.create_topic(topic, 4)
    out = run(
        ["-c", SAMPLE_DRIVER, namesrv, topic, group,
         "send_message_sync(10)", "send_orderly_with_sharding_key(10)"],
        tmp_path,
        rocketmq_alias,
    )
    assert "send sync message done" in out and "send sync order message done" in out, out
    ids = sample_ids(out)
    assert len(ids) == 20, out
    stored = read_slowly(cluster, topic, 20)
    assert sorted(m["msgId"] for m in stored) == sorted(ids)
    assert_sample_messages(stored)
    orderly = [m for m in stored if m["properties"].get("__SHARDINGKEY") == "orderId"]
    assert sorted(m["msgId"] for m in orderly) == sorted(ids[10:])
    assert {(m["brokerName"], m["queueId"]) for m in orderly} == {
        java_queue_for_key(cluster, topic, "orderId")
    }


@pytest.mark.cluster
def test_the_official_transaction_sample_runs_as_it_is(
    rocketmq_alias: dict[str, str],
    tmp_path: Path,
    namesrv: str,
    topic: str,
    group: str,
    cluster: Cluster,
) -> None:
    # Its local transaction answers UNKNOWN and its checker COMMIT; then it sleeps forever,
    # keeping the checker up, until it is stopped.
    sample = subprocess.Popen(
        [sys.executable, "-c", SAMPLE_DRIVER, namesrv, topic, group, "send_transaction_message(3)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **rocketmq_alias},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert sample.stdout
        sent = ""
        while "send transaction message done" not in sent:
            line = sample.stdout.readline()
            assert line, f"the sample ended before its sends were done:\n{sent}"
            sent += line
        stored = read_slowly(cluster, topic, 3)
    finally:
        sample.terminate()
        rest, _ = sample.communicate(timeout=60)
    out = sent + rest
    ids = sample_ids(out)
    assert len(ids) == 3 and out.count("local:   message body") == 3, out
    assert "check: message body" in out, out
    assert {m["msgId"] for m in stored} == set(ids)
    assert_sample_messages(stored)


# --- the official API's surface and its bad inputs ------------------------------------------


def test_the_official_exception_classes() -> None:
    for name in compat_exceptions.__all__:
        assert getattr(compat, name) is getattr(compat_exceptions, name)
        assert issubclass(getattr(compat, name), RocketMQException)
    for cls in (ProducerStartFailed, ProducerSendSyncFailed, ProducerSendOnewayFailed, ProducerSendOrderlyFailed):
        assert issubclass(cls, ProducerException)
    assert issubclass(NullPointerException, RocketMQException)
    assert [int(s) for s in SendStatus] == [0, 1, 2, 3]
    assert [int(s) for s in TransactionStatus] == [0, 1, 2]


def test_bad_arguments_raise_type_error_at_once() -> None:
    with pytest.raises(TypeError):
        Message(42)  # type: ignore[arg-type]
    msg = Message(b"TopicTest")
    for call in (
        lambda: msg.set_keys(None),  # type: ignore[arg-type]
        lambda: msg.set_tags(3),  # type: ignore[arg-type]
        lambda: msg.set_body(None),  # type: ignore[arg-type]
        lambda: msg.set_property("k", None),  # type: ignore[arg-type]
        lambda: msg.set_delay_time_level("high"),  # type: ignore[arg-type]
        lambda: Producer(None),  # type: ignore[arg-type]
        lambda: Producer("g").set_name_server_address(None),  # type: ignore[arg-type]
        lambda: Producer("g").set_session_credentials("ak", "sk", None),  # type: ignore[arg-type]
        lambda: TransactionMQProducer("g", None),  # type: ignore[arg-type]
        lambda: Producer("g").send_sync("a message"),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError):
            call()


def test_none_message_and_key_are_null_pointers() -> None:
    producer = Producer("py_compat_null")
    with pytest.raises(NullPointerException):
        producer.send_sync(None)  # type: ignore[arg-type]
    with pytest.raises(NullPointerException):
        producer.send_oneway(None)  # type: ignore[arg-type]
    with pytest.raises(NullPointerException):
        producer.send_orderly_with_sharding_key(None, "key")  # type: ignore[arg-type]
    with pytest.raises(NullPointerException):
        producer.send_orderly_with_sharding_key(Message("TopicTest"), None)  # type: ignore[arg-type]
    tx = TransactionMQProducer("py_compat_null_tx", lambda msg: TransactionStatus.COMMIT)
    with pytest.raises(NullPointerException):
        tx.send_message_in_transaction(None, lambda msg, args: TransactionStatus.COMMIT)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tx.send_message_in_transaction(Message("TopicTest"), None)  # type: ignore[arg-type]


def cause_of(error: BaseException, kind: type[rmqproducer.RmqError]) -> rmqproducer.RmqError:
    """The rmqproducer error behind an official one: its __cause__, its text in the message."""
    cause = error.__cause__
    assert isinstance(cause, kind), repr(cause)
    assert str(error) == str(cause)
    return cause


def test_state_errors_raise_the_official_class_of_the_call(closed_port: str) -> None:
    producer = Producer("py_compat_state")
    producer.set_name_server_address(closed_port)
    with pytest.raises(ProducerSendSyncFailed) as before:
        producer.send_sync(Message("TopicTest"))
    cause_of(before.value, rmqproducer.IllegalStateError)
    producer.shutdown()  # before start: nothing to do, as the official client
    with producer as started:
        assert started is producer  # the official client binds None
        with pytest.raises(ProducerStartFailed) as twice:
            producer.start()
        cause_of(twice.value, rmqproducer.IllegalStateError)
    for send, cls in (
        (producer.send_sync, ProducerSendSyncFailed),
        (producer.send_oneway, ProducerSendOnewayFailed),
        (lambda m: producer.send_orderly_with_sharding_key(m, "k"), ProducerSendOrderlyFailed),
    ):
        msg = Message("TopicTest")
        msg.set_body("after shutdown")
        with pytest.raises(cls) as after:
            send(msg)
        assert "shut down" in str(cause_of(after.value, rmqproducer.IllegalStateError))
    with pytest.raises(ProducerStartFailed):
        producer.start()


def test_bad_settings_fail_the_start() -> None:
    settings: list[Callable[[Producer], None]] = [
        lambda p: p.set_timeout(-1),
        lambda p: p.set_timeout("soon"),  # type: ignore[arg-type]
        lambda p: p.set_compress_level(42),
        lambda p: p.set_max_message_size(0),
        lambda p: p.set_group(""),
    ]
    for configure in settings:
        producer = Producer("py_compat_settings")
        configure(producer)
        with pytest.raises(ProducerStartFailed) as caught:
            producer.start()
        cause_of(caught.value, rmqproducer.InvalidArgumentError)
    with pytest.raises(ProducerStartFailed, match="set_name_server_address"):
        Producer("py_compat_settings").set_name_server_domain("http://jmenv.tbsite.net:8080/rocketmq/nsaddr")


@pytest.mark.cluster
def test_bad_messages_raise_the_official_class_of_the_call(namesrv: str, group: str) -> None:
    producer = Producer(group, timeout=3000)
    producer.set_name_server_address(namesrv)
    with producer:
        no_topic = Message(None)  # as the official client: accepted, refused when sent
        no_topic.set_body("x")
        empty = Message("")
        empty.set_body("x")
        no_body = Message("PyCompatTopic")
        bad_delay = Message("PyCompatTopic")
        bad_delay.set_body("x")
        bad_delay.set_delay_time_level(-1)
        too_large = Message("PyCompatTopic")
        too_large.set_body(os.urandom(5 << 20))  # incompressible, above the 4 MiB default
        cases: list[tuple[Message, type[rmqproducer.RmqError]]] = [
            (no_topic, rmqproducer.InvalidTopicError),
            (empty, rmqproducer.InvalidTopicError),
            (no_body, rmqproducer.EmptyBodyError),
            (bad_delay, rmqproducer.InvalidMessageError),
            (too_large, rmqproducer.MessageTooLargeError),
        ]
        for msg, kind in cases:
            with pytest.raises(ProducerSendSyncFailed) as sync:
                producer.send_sync(msg)
            cause_of(sync.value, kind)
            with pytest.raises(ProducerSendOnewayFailed) as oneway:
                producer.send_oneway(msg)
            cause_of(oneway.value, kind)
            with pytest.raises(ProducerSendOrderlyFailed) as orderly:
                producer.send_orderly_with_sharding_key(msg, "key")
            cause_of(orderly.value, rmqproducer.RmqError)
        # The producer still sends.
        fine = Message("PyCompatTopic")
        fine.set_body("fine")
        assert producer.send_sync(fine).status == SendStatus.OK


def test_an_unreachable_name_server_fails_the_send(closed_port: str) -> None:
    producer = Producer("py_compat_unreachable", timeout=1500)
    producer.set_name_server_address(closed_port)
    with producer:
        msg = Message("TopicTest")
        msg.set_body("nowhere")
        with pytest.raises(ProducerSendSyncFailed) as caught:
            producer.send_sync(msg)
    cause_of(caught.value, rmqproducer.RmqError)


@pytest.mark.cluster
def test_raising_and_wrong_transaction_callbacks_count_as_unknown(
    namesrv: str, group: str, topic: str, cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    asked: list[ReceivedMessage] = []
    lock = threading.Lock()

    def checker(msg: ReceivedMessage) -> TransactionStatus:
        with lock:
            asked.append(msg)
            times = sum(1 for m in asked if m.body == msg.body)
        if msg.body == b"checker raises once" and times == 1:
            raise RuntimeError("checker bug")
        return TransactionStatus.COMMIT

    def local(msg: ReceivedMessage, user_args: object) -> object:
        if msg.body == b"local raises":
            raise ValueError("local transaction bug")
        if msg.body == b"local answers nonsense":
            return "nonsense"
        if msg.body == b"checker raises once":
            return TransactionStatus.UNKNOWN
        return int(TransactionStatus.ROLLBACK)  # the official client takes the int too

    bodies = ["local raises", "local answers nonsense", "checker raises once", "rolled back"]
    ids = {}
    with caplog.at_level(logging.ERROR, logger="rmqproducer"):
        producer = TransactionMQProducer(group, checker, timeout=5000)
        producer.set_name_server_address(namesrv)
        with producer:
            for body in bodies:
                msg = Message(topic)
                msg.set_body(body)
                ids[body] = producer.send_message_in_transaction(msg, local).msg_id
            # All but the rolled-back one are committed by the checker, the one whose checker
            # raised at the first check on a later check.
            stored = read_slowly(cluster, topic, 3)
            deadline = time.monotonic() + CHECK_WAIT_S
            while not any(m["body"] == b"checker raises once" for m in stored):
                assert time.monotonic() < deadline, "the raising checker's message never committed"
                stored = read_slowly(cluster, topic, 3)
    assert {m["body"].decode(): m["msgId"] for m in stored} == {b: ids[b] for b in bodies[:3]}
    errors = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert any(isinstance(e, RuntimeError) and "checker bug" in str(e) for e in errors), errors
    assert any(isinstance(e, ValueError) and "local transaction bug" in str(e) for e in errors), errors
    assert any("Local transaction status error" in str(e) for e in errors), errors
