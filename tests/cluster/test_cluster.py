"""Tests of the local RocketMQ cluster launcher (`rmq-cluster`) against real Apache RocketMQ 5.3.3 servers.

With RMQ_PORT_BASE set, they use that (already running) cluster and leave it running and healthy.
Without it, a session fixture starts one at RMQ_TEST_PORT_BASE (default 19876) and stops it at the end
unless it was already running. The bad-input tests use their own base (RMQ_TEST_BAD_PORT_BASE, default
51000) and never touch the shared cluster.
"""

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CLI = HERE / "rmq-cluster"
sys.path.insert(0, str(HERE))

import rmqcluster  # noqa: E402

BAD_BASE = int(os.environ.get("RMQ_TEST_BAD_PORT_BASE", "51000"))


def run_cli(*args, base=None, env=None, timeout=180, check=True):
    full_env = dict(os.environ if env is None else env)
    if base is not None:
        full_env["RMQ_PORT_BASE"] = str(base)
    proc = subprocess.run([sys.executable, str(CLI)] + [str(a) for a in args], env=full_env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)
    result = (proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))
    if check and proc.returncode != 0:
        pytest.fail(f"rmq-cluster {' '.join(map(str, args))} exited {proc.returncode}: {result[2].strip()}")
    return result


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def route_brokers(base, topic):
    rc, out, _ = run_cli("route", topic, base=base, check=False)
    if rc != 0:
        return set()
    return {q["brokerName"] for q in json.loads(out)["queueDatas"]}


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.5)


def unique_topic(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def cluster():
    """The port base of a running, healthy cluster."""
    given = os.environ.get("RMQ_PORT_BASE")
    base = int(given or os.environ.get("RMQ_TEST_PORT_BASE", rmqcluster.DEFAULT_PORT_BASE))
    already_up = rmqcluster.Cluster(base).healthy()
    rc, out, err = run_cli("up", base=base, check=False, timeout=400)
    if rc != 0:
        _, logs, _ = run_cli("logs", base=base, check=False)
        pytest.fail(f"rmq-cluster up failed: {err.strip()}\n{logs}")
    assert out.strip().splitlines()[-1] == f"NAMESRV_ADDR=127.0.0.1:{base}"
    yield base
    if not given and not already_up:
        run_cli("down", base=base, check=False)


@pytest.fixture(scope="session")
def both_brokers_topic(cluster):
    topic = unique_topic("RmqClusterBoth")
    run_cli("create-topic", topic, "--queues", 4, base=cluster)
    return topic


# ------------------------------------------------------------------------------------------------
# 1. The cluster is real and usable


def test_up_is_idempotent_and_status_healthy(cluster):
    started = time.monotonic()
    _, out, _ = run_cli("up", base=cluster)
    assert out.strip() == f"NAMESRV_ADDR=127.0.0.1:{cluster}"
    assert time.monotonic() - started < 10
    _, status, _ = run_cli("status", base=cluster)
    assert status.count("running") == 3 and status.count("not registered") == 0, status


def test_cluster_list_shows_both_brokers(cluster):
    _, out, _ = run_cli("admin", "clusterList", base=cluster, timeout=60)
    assert f"127.0.0.1:{cluster + 100}" in out and "broker-a" in out, out
    assert f"127.0.0.1:{cluster + 200}" in out and "broker-b" in out, out


def test_create_topic_route_lists_both_brokers(cluster, both_brokers_topic):
    _, out, _ = run_cli("route", both_brokers_topic, base=cluster)
    route = json.loads(out)
    queues = {q["brokerName"]: q for q in route["queueDatas"]}
    assert set(queues) == {"broker-a", "broker-b"}
    assert all(q["writeQueueNums"] == 4 and q["readQueueNums"] == 4 for q in queues.values())
    addrs = {b["brokerName"]: b["brokerAddrs"]["0"] for b in route["brokerDatas"]}
    assert addrs == {"broker-a": f"127.0.0.1:{cluster + 100}", "broker-b": f"127.0.0.1:{cluster + 200}"}


def test_route_of_unknown_topic_is_a_clear_error(cluster):
    rc, out, err = run_cli("route", unique_topic("NoSuchTopic"), base=cluster, check=False)
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "no route" in err


def test_java_send_is_read_back_by_key_id_and_topic(cluster, both_brokers_topic):
    body = "héllo from the Java client ✓"
    _, out, _ = run_cli("send", both_brokers_topic, body, "--tags", "TagA", "--keys", "order-1,order-2",
                        "--prop", "color=blue", "--prop", "size=L", base=cluster)
    sent = json.loads(out)
    assert sent["status"] == "SEND_OK" and sent["brokerName"] in ("broker-a", "broker-b")

    def check(msg):
        assert msg["msgId"] == sent["msgId"] and msg["offsetMsgId"] == sent["offsetMsgId"]
        assert msg["topic"] == both_brokers_topic
        assert (msg["brokerName"], msg["queueId"], msg["queueOffset"]) == (
            sent["brokerName"], sent["queueId"], sent["queueOffset"])
        assert base64.b64decode(msg["bodyBase64"]) == body.encode()
        assert msg["bodyLength"] == len(body.encode())
        assert msg["tags"] == "TagA" and msg["keys"] == "order-1 order-2"
        assert msg["userProperties"] == {"color": "blue", "size": "L"}
        assert msg["properties"]["UNIQ_KEY"] == sent["msgId"] and msg["properties"]["color"] == "blue"
        assert msg["storeHost"] == {"broker-a": f"127.0.0.1:{cluster + 100}",
                                    "broker-b": f"127.0.0.1:{cluster + 200}"}[msg["brokerName"]]
        assert msg["reconsumeTimes"] == 0 and msg["sysFlag"] & 1 == 0

    _, out, _ = run_cli("read-key", both_brokers_topic, sent["msgId"], base=cluster)
    check(json.loads(out))
    _, out, _ = run_cli("read-id", sent["offsetMsgId"], base=cluster)
    check(json.loads(out))
    _, out, _ = run_cli("read-topic", both_brokers_topic, "--expect", 1, base=cluster)
    (msg,) = [m for m in json_lines(out) if m["msgId"] == sent["msgId"]]
    check(msg)


def test_compressed_body_is_read_back_decompressed(cluster):
    topic = unique_topic("RmqClusterBig")
    body = bytes(range(256)) * 40  # 10 KiB: above the Java producer's 4 KiB compression threshold
    _, out, _ = run_cli("send", topic, base64.b64encode(body).decode(), "--body-base64", base=cluster)
    sent = json.loads(out)
    _, out, _ = run_cli("read-key", topic, sent["msgId"], base=cluster)
    msg = json.loads(out)
    assert msg["sysFlag"] & 1 == 1, "the Java producer compresses bodies above 4 KiB"
    assert base64.b64decode(msg["bodyBase64"]) == body and msg["bodyLength"] == len(body)


def test_read_topic_returns_everything_across_both_brokers(cluster):
    topic = unique_topic("RmqClusterMany")
    run_cli("create-topic", topic, "--queues", 2, base=cluster)
    sent = json_lines(run_cli("send", topic, "same body", "--count", 4, base=cluster)[1])
    assert len(sent) == 4 and len({s["msgId"] for s in sent}) == 4
    _, out, _ = run_cli("read-topic", topic, base=cluster)
    read = json_lines(out)
    assert sorted(m["msgId"] for m in read) == sorted(s["msgId"] for s in sent)
    assert {m["brokerName"] for m in read} <= {"broker-a", "broker-b"}
    rc, _, err = run_cli("read-topic", topic, "--expect", 5, "--timeout-ms", 1500, base=cluster, check=False)
    assert rc != 0 and "expected at least 5" in err


def test_missing_message_is_a_clear_error(cluster, both_brokers_topic):
    rc, out, err = run_cli("read-key", both_brokers_topic, "0" * 32, "--timeout-ms", 500, base=cluster,
                           check=False)
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and "not found" in err


def test_producers_lists_a_connected_java_producer(cluster, both_brokers_topic):
    group = unique_topic("PG_RmqCluster")
    sender = subprocess.Popen([sys.executable, str(CLI), "send", both_brokers_topic, "x", "--group", group,
                               "--linger-ms", "15000"], env=dict(os.environ, RMQ_PORT_BASE=str(cluster)),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = {}

        def registered():
            seen.update(json.loads(run_cli("producers", group, base=cluster)[1]))
            return len(seen["connections"]) == 2  # heartbeats go to both masters

        wait_for(registered, 15, f"producer group {group} on both brokers")
        assert seen["group"] == group
        for conn in seen["connections"]:
            assert conn["language"] == "JAVA" and conn["version"] > 0
            assert conn["clientAddr"].startswith("127.0.0.1:") and "@" in conn["clientId"]
    finally:
        sender.kill()
        sender.wait()


def test_broker_stores_are_in_memory_not_on_the_shared_disk(cluster, both_brokers_topic):
    """A shared disk over 90 % full made every broker refuse writes ("the broker's disk is full")."""
    run_cli("send", both_brokers_topic, "stored in memory", base=cluster)
    launched = rmqcluster.Cluster(cluster)
    written = [b.name for b in launched.broker_members() if any((b.store / "commitlog").glob("0*"))]
    assert written, f"no commit log under {launched.store_dir}"
    if not os.environ.get("RMQ_STORE_DIR") and launched.store_dir != launched.state_dir / "stores":
        assert launched.store_dir.is_relative_to(rmqcluster.MEMORY_FS)
        assert rmqcluster.used_ratio(launched.store_dir) < rmqcluster.STORE_CLEAN_RATIO


def test_store_folder_follows_rmq_store_dir_else_memory_else_the_state_folder(monkeypatch, tmp_path):
    state = tmp_path / "cluster" / "1"
    monkeypatch.setenv("RMQ_STORE_DIR", str(tmp_path / "stores"))
    assert rmqcluster.store_root(state).parent == tmp_path / "stores"
    monkeypatch.delenv("RMQ_STORE_DIR")
    monkeypatch.setattr(rmqcluster, "MEMORY_FS", tmp_path / "no-such-fs")
    assert rmqcluster.store_root(state) == state / "stores"


# ------------------------------------------------------------------------------------------------
# 2. A broker can be killed and restarted; the NameServer follows


def test_kill_and_restart_broker_b(cluster, both_brokers_topic):
    topic = both_brokers_topic
    wait_for(lambda: route_brokers(cluster, topic) == {"broker-a", "broker-b"}, 30, "both brokers in route")
    try:
        run_cli("kill-broker", "broker-b", base=cluster)
        # The NameServer drops a broker at once when its channel closes, at worst at its next 5 s scan.
        wait_for(lambda: route_brokers(cluster, topic) == {"broker-a"}, 15, "broker-b to leave the route")
        _, status, _ = run_cli("status", base=cluster, check=False)
        assert "broker-b" in status and "stopped" in status
        # Still usable through broker-a.
        sent = json.loads(run_cli("send", topic, "while b is down", base=cluster)[1])
        assert sent["brokerName"] == "broker-a"
    finally:
        run_cli("start-broker", "broker-b", base=cluster, timeout=200)
    wait_for(lambda: route_brokers(cluster, topic) == {"broker-a", "broker-b"}, 30, "broker-b back in route")
    _, status, _ = run_cli("status", base=cluster)
    assert "not registered" not in status


# ------------------------------------------------------------------------------------------------
# 3. Bad input: one-line errors naming the cause, nothing left running


@pytest.fixture
def bad_base():
    run_cli("down", base=BAD_BASE, check=False)
    yield BAD_BASE
    leftover = rmqcluster.member_processes(BAD_BASE)
    run_cli("down", base=BAD_BASE, check=False)
    assert leftover == [], f"processes of port base {BAD_BASE} left behind"


def is_progress(line):
    """A step the launcher reports on stderr during a long operation (a first download)."""
    return line.startswith("rmq-cluster: ") and not line.startswith("rmq-cluster: error:")


def assert_one_line_error(rc, err, *words):
    assert rc != 0
    lines = [ln for ln in err.splitlines() if ln.strip() and not is_progress(ln)]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]


def test_busy_port_is_reported(bad_base):
    busy = bad_base + 100  # broker-a's listen port
    with socket.create_server(("127.0.0.1", busy)):
        rc, out, err = run_cli("up", base=bad_base, check=False)
    assert_one_line_error(rc, err, str(busy), "in use")
    assert "NAMESRV_ADDR" not in out
    assert rmqcluster.member_processes(bad_base) == []


def test_missing_jdk_is_reported(bad_base):
    with tempfile.TemporaryDirectory() as empty_bin:
        env = dict(os.environ, PATH=empty_bin)
        env.pop("JAVA_HOME", None)
        rc, _, err = run_cli("up", base=bad_base, env=env, check=False)
    assert_one_line_error(rc, err, "java not found")
    assert rmqcluster.member_processes(bad_base) == []


def test_failed_download_is_reported(bad_base):
    with tempfile.TemporaryDirectory() as empty_cache:
        # Offline Maven with an empty local repository cannot resolve anything.
        env = dict(os.environ, RMQ_CACHE_DIR=empty_cache, RMQ_MAVEN_ARGS="-o")
        rc, _, err = run_cli("up", base=bad_base, env=env, check=False)
        assert_one_line_error(rc, err, "download", "mvn failed")
        assert "rmq-cluster: fetching the RocketMQ" in err, "a first download says what it does"
        assert not (Path(empty_cache) / f"rocketmq-{rmqcluster.ROCKETMQ_VERSION}" / "fetched.ok").exists()
    assert rmqcluster.member_processes(bad_base) == []


def test_unknown_broker_and_command_are_usage_errors(cluster):
    rc, _, err = run_cli("kill-broker", "broker-z", base=cluster, check=False)
    assert_one_line_error(rc, err, "unknown broker")
    rc, _, err = run_cli("frobnicate", base=cluster, check=False)
    assert_one_line_error(rc, err, "unknown command")


def test_broker_failing_after_namesrv_started_stops_everything(bad_base, monkeypatch):
    """A broker JVM that cannot start (bad option) after the NameServer came up: all is stopped."""
    cluster = rmqcluster.Cluster(bad_base)
    monkeypatch.setattr(rmqcluster, "BROKER_JVM", rmqcluster.BROKER_JVM + ["-XX:+RmqClusterNoSuchOption"])
    with pytest.raises(rmqcluster.ClusterError) as failure:
        cluster.up()
    message = str(failure.value)
    assert "exited while starting" in message and "\n" not in message
    assert rmqcluster.member_processes(bad_base) == []
    assert not any(m.running() for m in cluster.members())


@pytest.fixture(scope="session")
def secure_cluster():
    """The port base of a running secure cluster (`up --secure`): RMQ_SECURE_PORT_BASE when make test
    started one, else one started here at RMQ_TEST_SECURE_PORT_BASE (default 20876) and stopped at the end."""
    given = os.environ.get("RMQ_SECURE_PORT_BASE")
    base = int(given or os.environ.get("RMQ_TEST_SECURE_PORT_BASE", "20876"))
    already_up = rmqcluster.Cluster(base).healthy()
    rc, _, err = run_cli("up", "--secure", base=base, check=False, timeout=400)
    if rc != 0:
        pytest.fail(f"rmq-cluster up --secure failed: {err.strip()}")
    yield base
    if not given and not already_up:
        run_cli("down", base=base, check=False)


def test_secure_cluster_tools_sign_and_speak_tls(secure_cluster):
    topic = unique_topic("SecureTool")
    _, out, _ = run_cli("send", topic, "over tls", "--keys", "secure-key", base=secure_cluster)
    sent = json.loads(out.strip().splitlines()[-1])
    assert sent["status"] == "SEND_OK"
    _, out, _ = run_cli("read-topic", topic, "--expect", "1", base=secure_cluster)
    (stored,) = json_lines(out)
    assert stored["msgId"] == sent["msgId"]
    assert base64.b64decode(stored["bodyBase64"]) == b"over tls"


def test_secure_brokers_close_plain_connections(secure_cluster):
    broker_port = secure_cluster + 100
    with socket.create_connection(("127.0.0.1", broker_port), timeout=5) as sock:
        sock.sendall(b"\x00\x00\x00\x10" + b"\x00" * 16)  # a remoting frame, not a TLS ClientHello
        sock.settimeout(10)
        try:
            data = sock.recv(1)
        except ConnectionResetError:
            data = b""
    assert data == b"", "a broker of the secure cluster answered plain TCP"


def test_up_refuses_to_switch_a_running_cluster_to_the_other_mode(secure_cluster):
    rc, _, err = run_cli("up", base=secure_cluster, check=False)
    assert rc != 0
    assert "running secure" in err and "down" in err
    assert len(err.strip().splitlines()) == 1


@pytest.fixture(scope="session")
def mtls_cluster():
    """The port base and the files (`TLS_*_FILE` lines) of a running mutual-TLS cluster (`up --mtls`):
    at RMQ_MTLS_PORT_BASE when make test started one, else one started here at RMQ_TEST_MTLS_PORT_BASE
    (default 21376) and stopped at the end."""
    given = os.environ.get("RMQ_MTLS_PORT_BASE")
    base = int(given or os.environ.get("RMQ_TEST_MTLS_PORT_BASE", "21376"))
    already_up = rmqcluster.Cluster(base).healthy()
    rc, out, err = run_cli("up", "--mtls", base=base, check=False, timeout=400)
    if rc != 0:
        pytest.fail(f"rmq-cluster up --mtls failed: {err.strip()}")
    files = dict(line.split("=", 1) for line in out.splitlines() if line.startswith("TLS_"))
    yield base, files
    if not given and not already_up:
        run_cli("down", base=base, check=False)


def test_mtls_cluster_prints_its_files_and_its_tools_present_the_client_certificate(mtls_cluster):
    base, files = mtls_cluster
    assert sorted(files) == sorted(f"TLS_{name.upper()}_FILE" for name in rmqcluster.MTLS_FILES)
    assert all(os.path.isfile(path) for path in files.values())
    topic = unique_topic("MtlsTool")
    _, out, _ = run_cli("send", topic, "over mutual tls", base=base)
    sent = json.loads(out.strip().splitlines()[-1])
    assert sent["status"] == "SEND_OK" and sent["brokerName"] == "broker-a"
    _, out, _ = run_cli("read-topic", topic, "--expect", "1", base=base)
    (stored,) = json_lines(out)
    assert stored["msgId"] == sent["msgId"]


def test_mtls_broker_refuses_a_tls_client_without_a_certificate(mtls_cluster):
    base, files = mtls_cluster
    context = ssl.create_default_context(cafile=files["TLS_CA_FILE"])  # the server's certificate checks out
    with socket.create_connection(("127.0.0.1", base + 100), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"\x00\x00\x00\x10" + b"\x00" * 16)
            with pytest.raises(ssl.SSLError, match="alert"):
                tls.recv(1)


def test_mtls_is_for_masters_alone_and_not_with_secure(bad_base):
    for extra in (["--topology", "master-slave"], ["--secure"]):
        rc, _, err = run_cli("up", "--mtls", *extra, base=bad_base, check=False)
        assert rc == 64, err
        assert "--mtls" in err and len(err.strip().splitlines()) == 1
