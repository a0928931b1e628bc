"""Fixtures: the real cluster (NAMESRV_ADDR), unique topics and groups, an independent reader
of what the brokers stored, and misbehaving loopback name servers for failure tests (each
fixture gives the server's address)."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

import rmqproducer

REPO = Path(__file__).resolve().parents[3]
CLUSTER = REPO / "tests" / "cluster" / "rmq-cluster"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def namesrv() -> str:
    addr = os.environ.get("NAMESRV_ADDR")
    if not addr:
        pytest.fail(
            "NAMESRV_ADDR is not set: start the cluster with tests/cluster/rmq-cluster up "
            "and export the NAMESRV_ADDR it prints"
        )
    return addr


def through_proxy() -> bool:
    """Whether clients reach the brokers through the 5.x Proxy (the launcher printed
    REAL_NAMESRV_ADDR): it sends only to topics it knows whose message.type matches the
    message's, so tests create theirs first, NORMAL (brokers refuse MIXED by default)."""
    return bool(os.environ.get("REAL_NAMESRV_ADDR"))


def prepare_topic(topic: str, queues: int = 4) -> str:
    """`topic`, created first when a Proxy is in front (brokers elsewhere create it on first send)."""
    if through_proxy():
        Cluster().create_topic(topic, queues)
    return topic


@pytest.fixture
def topic() -> str:
    return prepare_topic(unique("PyTopic"))


@pytest.fixture
def concurrency() -> int:
    """How many sends a test keeps in flight at once. Through the 5.3.3 Proxy, 100: it drops a
    response when its channel's write buffer is over Netty's high-water mark (64 KiB;
    `AbstractRemotingActivity.writeResponse` returns when the channel is not writable), and 1,000
    answers completing together pass that, leaving some sends unanswered until their deadline."""
    return 100 if through_proxy() else 1000


@pytest.fixture
def example_topic() -> str:
    """TopicTest, where the examples send."""
    return prepare_topic("TopicTest")


@pytest.fixture
def group() -> str:
    return unique("py_group")


@pytest.fixture
def producer(namesrv: str, group: str) -> Iterator[rmqproducer.Producer]:
    with rmqproducer.Producer(group, namesrv) as p:
        yield p


@dataclass
class Stored:
    """One message as the cluster's own (Java) reader saw it."""

    msg_id: str
    body: bytes
    tags: Optional[str]
    keys: Optional[str]
    properties: dict[str, str]
    topic: str = ""
    broker_name: str = ""
    queue_id: int = -1
    sys_flag: int = 0
    born_timestamp: int = 0
    store_timestamp: int = 0
    store_host: str = ""
    all_properties: Optional[dict[str, str]] = None

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Stored:
        return cls(
            msg_id=record["msgId"],
            body=base64.b64decode(record["bodyBase64"]),
            tags=record.get("tags"),
            keys=record.get("keys"),
            properties=record.get("userProperties") or {},
            topic=record.get("topic", ""),
            broker_name=record.get("brokerName", ""),
            queue_id=record.get("queueId", -1),
            sys_flag=record.get("sysFlag", 0),
            born_timestamp=record.get("bornTimestamp", 0),
            store_timestamp=record.get("storeTimestamp", 0),
            store_host=record.get("storeHost", ""),
            all_properties=record.get("properties") or {},
        )


def cluster_port_base() -> str:
    """The port base of the cluster under test: RMQ_PORT_BASE, else its name server's port (the
    Proxy, which clients take for their name server, listens elsewhere)."""
    return os.environ.get("RMQ_PORT_BASE") or os.environ["NAMESRV_ADDR"].split(";")[0].rsplit(":", 1)[1]


def run_cluster(*args: str, port_base: Optional[str] = None, timeout: float = 180) -> str:
    """`rmq-cluster ARGS` on the cluster under test (or `port_base`); its stdout."""
    done = subprocess.run(
        [str(CLUSTER), "--port-base", port_base or cluster_port_base(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"rmq-cluster {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def parse_stored(output: str) -> list[Stored]:
    lines = [line for line in output.splitlines() if line.startswith("{")]
    return [Stored.from_json(json.loads(line)) for line in lines]


def read_topic(topic: str, expect: int, port_base: Optional[str] = None) -> list[Stored]:
    """Every message stored in `topic`, read back by `rmq-cluster read-topic` (not our code)."""
    return parse_stored(run_cluster("read-topic", topic, "--expect", str(expect), port_base=port_base))


@pytest.fixture
def stored() -> Callable[[str, int], list[Stored]]:
    return read_topic


class Cluster:
    """The cluster under test (or the one at `port_base`), driven by `rmq-cluster`: the Java
    reader, the official Java sender and responder, topic creation."""

    def __init__(self, port_base: Optional[str] = None) -> None:
        self.port_base = port_base or cluster_port_base()

    def run(self, *args: str, timeout: float = 180) -> str:
        return run_cluster(*args, port_base=self.port_base, timeout=timeout)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(CLUSTER), "--port-base", self.port_base, *args],
            stdout=subprocess.PIPE,
            text=True,
        )

    def read_topic(self, topic: str, expect: int = 0) -> list[Stored]:
        args = ["read-topic", topic] + (["--expect", str(expect)] if expect else [])
        return parse_stored(self.run(*args))

    def by_msg_id(self, topic: str, expect: int) -> dict[str, Stored]:
        return {m.msg_id: m for m in self.read_topic(topic, expect)}

    def create_topic(self, topic: str, queues: int) -> None:
        typed = ["--message-type", "NORMAL"] if through_proxy() else []
        self.run("create-topic", topic, "--queues", str(queues), *typed)

    def brokers_of(self, topic: str) -> list[str]:
        """The groups that hold `topic`, by name, as the NameServer routes it."""
        route = json.loads(self.run("route", topic))
        return sorted(queue["brokerName"] for queue in route["queueDatas"])


@pytest.fixture(scope="session")
def cluster(namesrv: str) -> Cluster:
    return Cluster()


class LoopbackServer:
    """A TCP server on 127.0.0.1 that misbehaves on purpose, one `on_connection` per client."""

    def __init__(self, on_connection: Callable[[socket.socket], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.addr = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.on_connection = on_connection
        self.clients: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.clients.append(client)
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        try:
            self.on_connection(client)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        for client in self.clients:
            client.close()


def _silent(client: socket.socket) -> None:
    """Reads requests and never answers."""
    while client.recv(65536):
        pass


def _hang_up(client: socket.socket) -> None:
    """Closes the connection as soon as a request arrives."""
    client.recv(65536)
    client.close()


ROCKETMQ_SERIALIZE_TYPE = 1


def _frame(header: bytes, body: bytes = b"") -> bytes:
    """A remoting frame: total length, JSON header length, header, body."""
    return (4 + len(header) + len(body)).to_bytes(4, "big") + len(header).to_bytes(4, "big") + header + body


def _read_frame(client: socket.socket) -> dict[str, Any]:
    """The header of the next request frame: the JSON object, or code and opaque of a binary
    (ROCKETMQ) one, the client's default. Servers answer in JSON either way."""
    data = b""
    while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
        chunk = client.recv(65536)
        if not chunk:
            raise OSError("closed")
        data += chunk
    header_len = int.from_bytes(data[4:8], "big") & 0xFFFFFF
    raw = data[8 : 8 + header_len]
    if data[4] == ROCKETMQ_SERIALIZE_TYPE:
        # code i16, language u8, version i16, opaque i32, ...
        return {"code": int.from_bytes(raw[0:2], "big", signed=True),
                "opaque": int.from_bytes(raw[5:9], "big", signed=True)}
    header: dict[str, Any] = json.loads(raw)
    return header


def _answer(client: socket.socket, body: bytes) -> None:
    """Answers every request with success and `body`."""
    while True:
        request = _read_frame(client)
        header = {"code": 0, "flag": 1, "language": "JAVA", "opaque": request["opaque"],
                  "serializeTypeCurrentRPC": "JSON", "version": 479}
        client.sendall(_frame(json.dumps(header).encode(), body))


def _wrong_body(client: socket.socket) -> None:
    """Answers every request with a well-formed success response whose body is not JSON."""
    _answer(client, b"this is no route data")


def _route(broker_addr: str) -> bytes:
    """A topic route with one master, `broker_addr`, and one writable queue."""
    route = {
        "brokerDatas": [
            {"cluster": "FakeCluster", "brokerName": "fake-broker", "brokerAddrs": {"0": broker_addr}}
        ],
        "queueDatas": [
            {"brokerName": "fake-broker", "readQueueNums": 1, "writeQueueNums": 1, "perm": 6,
             "topicSysFlag": 0}
        ],
    }
    return json.dumps(route).encode()


@pytest.fixture
def silent_namesrv() -> Iterator[str]:
    server = LoopbackServer(_silent)
    yield server.addr
    server.close()


@pytest.fixture
def hang_up_namesrv() -> Iterator[str]:
    server = LoopbackServer(_hang_up)
    yield server.addr
    server.close()


@pytest.fixture
def wrong_body_namesrv() -> Iterator[str]:
    server = LoopbackServer(_wrong_body)
    yield server.addr
    server.close()


@pytest.fixture
def silent_broker_namesrv(silent_namesrv: str) -> Iterator[str]:
    """A name server whose every route leads to a broker that never answers."""
    route = _route(silent_namesrv)
    server = LoopbackServer(lambda client: _answer(client, route))
    yield server.addr
    server.close()


@pytest.fixture
def closed_port() -> str:
    """An address where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "127.0.0.1:%d" % s.getsockname()[1]


@dataclass
class SecureCluster:
    """The cluster whose brokers require TLS and ACL signing (`rmq-cluster up --secure`)."""

    namesrv: str
    access_key: str
    secret_key: str
    cluster: Cluster


@pytest.fixture(scope="session")
def secure_cluster() -> SecureCluster:
    """The secure cluster `tests/run-all.sh` starts and describes in RMQ_SECURE_*; the test is
    skipped, with the reason, when those are unset."""
    names = ["NAMESRV_ADDR", "PORT_BASE", "ACCESS_KEY", "SECRET_KEY"]
    values = {name: os.environ.get(f"RMQ_SECURE_{name}", "") for name in names}
    missing = [f"RMQ_SECURE_{name}" for name, value in values.items() if not value]
    if missing:
        pytest.skip(f"no secure cluster: {', '.join(missing)} unset (make test sets them)")
    return SecureCluster(
        values["NAMESRV_ADDR"],
        values["ACCESS_KEY"],
        values["SECRET_KEY"],
        Cluster(values["PORT_BASE"]),
    )


@dataclass
class MtlsCluster:
    """The cluster whose broker requires a client certificate of the launcher's test CA
    (`rmq-cluster up --mtls`), and the launcher's files: `ca`, `cert`, `key` (accepted),
    `untrusted_ca`, `untrusted_cert`, `untrusted_key` (another CA and a client of it)."""

    namesrv: str
    files: dict[str, str]
    cluster: Cluster


@pytest.fixture(scope="session")
def mtls_cluster() -> MtlsCluster:
    """The mutual-TLS cluster `tests/run-all.sh` starts and describes in RMQ_MTLS_*; the test is
    skipped, with the reason, when those are unset."""
    files = ["ca", "cert", "key", "untrusted_ca", "untrusted_cert", "untrusted_key"]
    names = ["NAMESRV_ADDR", "PORT_BASE"] + [f"{name.upper()}_FILE" for name in files]
    values = {name: os.environ.get(f"RMQ_MTLS_{name}", "") for name in names}
    missing = [f"RMQ_MTLS_{name}" for name, value in values.items() if not value]
    if missing:
        pytest.skip(f"no mutual-TLS cluster: {', '.join(missing)} unset (make test sets them)")
    return MtlsCluster(
        values["NAMESRV_ADDR"],
        {name: values[f"{name.upper()}_FILE"] for name in files},
        Cluster(values["PORT_BASE"]),
    )
