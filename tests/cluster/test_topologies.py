"""The launcher's deployments beyond today's cluster, against the real servers: `master-slave` on
RocketMQ 5.3.3, `masters` and `master-slave` on 4.9.7 (and its secure variant, TLS + ACL 1.0),
`masters` on 5.5.0, `controller` (with `failover`) on 5.3.3, and `proxy` (the 5.3.3 Proxy in front
of `masters`). Each deployment is brought up cold on RMQ_TOPOLOGY_PORT_BASE (default 21876; never
the shared RMQ_PORT_BASE cluster), checked, and brought down, one after the other. Marked
`topology`: run with `make test-topologies` (or `python3 -m pytest -m topology tests/cluster`). The
bad-input tests at the end start nothing and run in the default suite.
"""

import base64
import json
import os
import socket
import struct
import subprocess
import time
import uuid

import pytest

from test_cluster import BAD_BASE, assert_one_line_error, json_lines, run_cli, wait_for

import rmqcluster

BASE = int(os.environ.get("RMQ_TOPOLOGY_PORT_BASE", "21876"))
UP_TIMEOUT_S = 600  # a first 4.9.7 download plus four brokers on a busy 2-core machine

DEPLOYMENTS = [
    pytest.param(("master-slave", "5.3.3"), id="master-slave-5.3.3"),
    pytest.param(("masters", "4.9.7"), id="masters-4.9.7"),
    pytest.param(("master-slave", "4.9.7"), id="master-slave-4.9.7"),
    # The newest 5.x whose every module Maven Central serves (5.5.1 has only broker/store/common).
    pytest.param(("masters", "5.5.0"), id="masters-5.5.0"),
    pytest.param(("proxy", "5.3.3"), id="proxy-5.3.3"),
]
VERSION_DESC = {"5.3.3": "V5_3_3", "4.9.7": "V4_9_7", "5.5.0": "V5_5_0"}


class Deployment:
    def __init__(self, topology, version):
        self.topology, self.version, self.base = topology, version, BASE
        self.groups = {"broker-a": BASE + 100, "broker-b": BASE + 200}
        self.slaves = ({"broker-a-s": ("broker-a", BASE + 150), "broker-b-s": ("broker-b", BASE + 250)}
                       if topology == "master-slave" else {})
        # Clients are given the Proxy (its remoting port) as their name server.
        self.proxy_addr = f"127.0.0.1:{BASE + 80}" if topology == "proxy" else None
        self.client_addr = self.proxy_addr or f"127.0.0.1:{BASE}"

    @property
    def master_role(self):
        return "SYNC_MASTER" if self.topology == "master-slave" else "ASYNC_MASTER"

    def cli(self, *args, **kwargs):
        return run_cli(*args, base=self.base, **kwargs)

    def broker_info(self):
        return {info["name"]: info for info in json_lines(self.cli("broker-info")[1])}


@pytest.fixture(scope="module", params=DEPLOYMENTS)
def deployment(request):
    """A deployment brought up cold on BASE; the last test of each brings it down."""
    d = Deployment(*request.param)
    run_cli("down", base=BASE, check=False)
    started = time.monotonic()
    rc, out, err = run_cli("up", "--topology", d.topology, "--version", d.version, base=BASE, check=False,
                           timeout=UP_TIMEOUT_S)
    if rc != 0:
        _, logs, _ = run_cli("logs", base=BASE, check=False)
        run_cli("down", base=BASE, check=False)
        pytest.fail(f"up --topology {d.topology} --version {d.version} failed: {err.strip()}\n{logs}")
    print(f"\nup --topology {d.topology} --version {d.version}: {time.monotonic() - started:.1f} s")
    lines = out.strip().splitlines()
    assert lines[-1] == f"NAMESRV_ADDR={d.client_addr}"
    if d.proxy_addr:  # the real NameServer too, for the Java reader and mqadmin
        assert lines[-2] == f"REAL_NAMESRV_ADDR=127.0.0.1:{BASE}"
    yield d
    run_cli("down", base=BASE, check=False)  # in case a test failed before the down test


def unique_topic(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.mark.topology
def test_every_broker_is_registered_with_its_role_and_version(deployment):
    d = deployment
    _, status, _ = d.cli("status")
    assert f"deployment: {d.topology}, RocketMQ {d.version}" in status, status
    _, out, _ = d.cli("admin", "clusterList", timeout=60)
    rows = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[0] == "DefaultCluster":
            rows[fields[3]] = (fields[1], fields[2], fields[4])  # addr -> (brokerName, BID, version)
    expected = {f"127.0.0.1:{port}": (group, "0", VERSION_DESC[d.version]) for group, port in d.groups.items()}
    expected.update({f"127.0.0.1:{port}": (group, "1", VERSION_DESC[d.version])
                     for group, port in d.slaves.values()})
    assert rows == expected, out

    info = d.broker_info()
    assert set(info) == set(d.groups) | set(d.slaves)
    for name in d.groups:
        assert (info[name]["brokerId"], info[name]["brokerRole"]) == (0, d.master_role), info[name]
    for name, (group, _) in d.slaves.items():
        assert info[name]["brokerName"] == group and info[name]["brokerId"] == 1, info[name]
        assert info[name]["brokerRole"] == "SLAVE" and info[name]["haConnected"], info[name]


@pytest.mark.topology
def test_route_lists_masters_and_slaves(deployment):
    d = deployment
    topic = unique_topic("TopoRoute")
    d.cli("create-topic", topic, "--queues", 2)
    route = json.loads(d.cli("route", topic)[1])
    addrs = {b["brokerName"]: b["brokerAddrs"] for b in route["brokerDatas"]}
    expected = {group: {"0": f"127.0.0.1:{port}"} for group, port in d.groups.items()}
    for group, port in d.slaves.values():
        expected[group]["1"] = f"127.0.0.1:{port}"
    assert addrs == expected
    assert {q["brokerName"] for q in route["queueDatas"]} == set(d.groups)


@pytest.mark.topology
def test_java_sent_message_is_read_back(deployment):
    d = deployment
    topic = unique_topic("TopoSend")
    d.cli("create-topic", topic, "--queues", 2)
    body = f"sent on {d.topology} {d.version}"
    sent = json.loads(d.cli("send", topic, body, "--keys", "topo-key", "--prop", "color=red")[1])
    assert sent["status"] == "SEND_OK" and sent["brokerName"] in d.groups
    (msg,) = json_lines(d.cli("read-topic", topic, "--expect", 1)[1])
    assert msg["msgId"] == sent["msgId"] and msg["offsetMsgId"] == sent["offsetMsgId"]
    assert base64.b64decode(msg["bodyBase64"]) == body.encode()
    assert msg["keys"] == "topo-key" and msg["userProperties"] == {"color": "red"}
    assert msg["storeHost"] == f"127.0.0.1:{d.groups[sent['brokerName']]}"
    found = json.loads(d.cli("read-key", topic, sent["msgId"])[1])
    assert found["offsetMsgId"] == sent["offsetMsgId"]


@pytest.mark.topology
def test_sync_master_with_a_paused_slave_reports_flush_slave_timeout(deployment):
    d = deployment
    if not d.slaves:
        pytest.skip("no slaves in this topology")
    topic = unique_topic("TopoSync")
    d.cli("create-topic", topic, "--queues", 2)
    assert json.loads(d.cli("send", topic, "slaves up")[1])["status"] == "SEND_OK"
    for slave in d.slaves:
        d.cli("pause-broker", slave)
    try:
        # The master waits slaveTimeout (3 s) for the frozen slave's ack, within the tool's 5 s
        # timeout. (A 4.9 master reports SLAVE_NOT_AVAILABLE only once it drops the silent HA
        # connection, after 20 s; a 5.3.3 master with inSyncReplicas=2 never does.)
        sent = json.loads(d.cli("send", topic, "slave paused")[1])
    finally:
        for slave in d.slaves:
            d.cli("resume-broker", slave)
    assert sent["status"] == "FLUSH_SLAVE_TIMEOUT", sent
    # Not a failure to store: the master kept the message.
    stored = json.loads(d.cli("read-key", topic, sent["msgId"])[1])
    assert stored["offsetMsgId"] == sent["offsetMsgId"]
    # Resumed, the slaves catch up and sends are acknowledged by them again.
    wait_for(lambda: json.loads(d.cli("send", topic, "slave back")[1])["status"] == "SEND_OK", 60,
             "SEND_OK once the slaves are resumed")


@pytest.mark.topology
def test_slave_serves_the_messages_after_its_master_stops(deployment):
    d = deployment
    if not d.slaves:
        pytest.skip("no slaves in this topology")
    topic = unique_topic("TopoSlave")
    d.cli("create-topic", topic, "--queues", 2)
    sent = json_lines(d.cli("send", topic, "replicated", "--count", 6)[1])
    on_a = [s["msgId"] for s in sent if s["brokerName"] == "broker-a"]
    assert on_a, "the Java producer spreads over both groups"

    def caught_up():
        info = d.broker_info()
        return all(info[slave]["commitLogMaxOffset"] == info[group]["commitLogMaxOffset"]
                   for slave, (group, _) in d.slaves.items())

    wait_for(caught_up, 30, "each slave's commit log to reach its master's max offset")
    # The topic was created on the masters; a slave copies topic configs every 10 s from the master
    # address in its last NameServer registration reply (every 30 s; none yet just after `up`), and
    # refuses pulls of a topic it does not know.
    wait_for(lambda: all(topic in rmqcluster.broker_topics(f"127.0.0.1:{port}") for _, port in d.slaves.values()),
             70, "the slaves to copy the topic's configuration")
    d.cli("stop-broker", "broker-a", timeout=120)
    try:
        # With broker-a's master gone its queues are read from broker-a-s.
        read = json_lines(d.cli("read-topic", topic, "--expect", len(sent))[1])
        assert sorted(m["msgId"] for m in read) == sorted(s["msgId"] for s in sent)
        assert {m["msgId"] for m in read if m["brokerName"] == "broker-a"} == set(on_a)
    finally:
        d.cli("start-broker", "broker-a", timeout=300)
    _, status, _ = d.cli("status")
    assert "not registered" not in status and "ha not connected" not in status, status


@pytest.mark.topology
def test_proxy_route_lists_the_proxy_under_the_real_broker_names(deployment):
    d = deployment
    if not d.proxy_addr:
        pytest.skip("no proxy in this topology")
    topic = unique_topic("TopoProxyRoute")
    d.cli("create-topic", topic, "--queues", 2)
    real = json.loads(d.cli("route", topic)[1])
    # What a remoting client asking the Proxy for the route gets.
    through = rmqcluster.topic_route(d.proxy_addr, topic)
    assert {b["brokerName"]: b["brokerAddrs"] for b in through["brokerDatas"]} == {
        group: {"0": d.proxy_addr} for group in d.groups}
    assert sorted(through["queueDatas"], key=str) == sorted(real["queueDatas"], key=str)
    _, status, _ = d.cli("status")
    assert f"proxy      {d.proxy_addr}" in status and "serving routes" in status, status
    # Name-server requests other than routes are not served by the Proxy.
    code, remark, _ = rmqcluster.remoting_call(d.proxy_addr, rmqcluster.GET_BROKER_CLUSTER_INFO)
    assert (code, remark.strip()) == (3, "request type 106 not supported")


@pytest.mark.topology
def test_java_message_sent_through_the_proxy_is_read_back(deployment):
    d = deployment
    if not d.proxy_addr:
        pytest.skip("no proxy in this topology")
    topic = unique_topic("TopoProxySend")
    d.cli("create-topic", topic, "--queues", 2)
    # The launcher's Java sender, given the Proxy as its name server.
    cluster = rmqcluster.Cluster(d.base)
    cmd = cluster._java_cmd([f"-Drmq.tool.namesrv={d.proxy_addr}"], "RmqTool",
                            ["send", topic, "via the proxy", "--keys", "proxy-key"], with_tool=True)
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    sent = json.loads(proc.stdout)
    assert sent["status"] == "SEND_OK" and sent["brokerName"] in d.groups, sent
    (msg,) = json_lines(d.cli("read-topic", topic, "--expect", 1)[1])
    assert msg["msgId"] == sent["msgId"] and base64.b64decode(msg["bodyBase64"]) == b"via the proxy"
    # Stored by the broker the route named, at its own address (the Proxy only forwarded it).
    assert msg["storeHost"] == f"127.0.0.1:{d.groups[sent['brokerName']]}"


@pytest.mark.topology
def test_up_refuses_another_deployment_on_a_running_base(deployment):
    d = deployment
    other = ["--version", "4.9.7"] if d.version != "4.9.7" else ["--topology", "masters" if d.slaves else
                                                                 "master-slave", "--version", d.version]
    rc, _, err = d.cli("up", *other, check=False)
    assert_one_line_error(rc, err, f"running {d.topology}, RocketMQ {d.version}", "down")


@pytest.mark.topology
def test_down_leaves_no_process(deployment):
    d = deployment
    assert len(rmqcluster.member_processes(d.base)) == 1 + len(d.groups) + len(d.slaves) + bool(d.proxy_addr)
    d.cli("down", timeout=120)
    assert rmqcluster.member_processes(d.base) == []
    rc, status, _ = d.cli("status", check=False)
    assert rc == 3 and "running" not in status.replace("deployment", ""), status


# ------------------------------------------------------------------------------------------------
# The secure 4.9.7 cluster: TLS required, ACL 1.0 (aclEnable, the launcher's plain_acl.yml)


@pytest.fixture(scope="module")
def secure_v4():
    """`up --secure --version 4.9.7` brought up cold on BASE; the last test brings it down."""
    run_cli("down", base=BASE, check=False)
    started = time.monotonic()
    rc, out, err = run_cli("up", "--secure", "--version", "4.9.7", base=BASE, check=False, timeout=UP_TIMEOUT_S)
    if rc != 0:
        _, logs, _ = run_cli("logs", base=BASE, check=False)
        run_cli("down", base=BASE, check=False)
        pytest.fail(f"up --secure --version 4.9.7 failed: {err.strip()}\n{logs}")
    print(f"\nup --secure --version 4.9.7: {time.monotonic() - started:.1f} s")
    assert out.strip().splitlines()[-1] == f"NAMESRV_ADDR=127.0.0.1:{BASE}"
    yield BASE
    run_cli("down", base=BASE, check=False)


def tool_env(access_key, secret_key):
    return dict(os.environ, RMQ_TOOL_ACCESS_KEY=access_key, RMQ_TOOL_SECRET_KEY=secret_key)


@pytest.mark.topology
def test_secure_v4_brokers_are_registered_and_mqadmin_signs_over_tls(secure_v4):
    _, status, _ = run_cli("status", base=secure_v4)
    assert "deployment: masters, RocketMQ 4.9.7" in status and "secure" in status, status
    # clusterList asks each broker (TLS, signed by the admin account of tools.yml).
    _, out, _ = run_cli("admin", "clusterList", base=secure_v4, timeout=120)
    rows = {f[3]: (f[1], f[4]) for f in (ln.split() for ln in out.splitlines())
            if len(f) > 4 and f[0] == "DefaultCluster"}
    assert rows == {f"127.0.0.1:{secure_v4 + 100}": ("broker-a", "V4_9_7"),
                    f"127.0.0.1:{secure_v4 + 200}": ("broker-b", "V4_9_7")}, out
    acl = (rmqcluster.Cluster(secure_v4).state_dir / "conf" / "plain_acl.yml").read_text()
    assert "globalWhiteRemoteAddresses" not in acl and "whiteRemoteAddress" not in acl, acl


@pytest.mark.topology
def test_secure_v4_java_sent_message_is_read_back(secure_v4):
    topic = unique_topic("SecureV4")
    run_cli("create-topic", topic, "--queues", 2, base=secure_v4, timeout=120)
    _, out, _ = run_cli("send", topic, "over tls, acl 1.0", "--keys", "k", base=secure_v4)
    sent = json.loads(out.strip().splitlines()[-1])
    assert sent["status"] == "SEND_OK"
    (msg,) = json_lines(run_cli("read-topic", topic, "--expect", 1, base=secure_v4)[1])
    assert msg["msgId"] == sent["msgId"] and base64.b64decode(msg["bodyBase64"]) == b"over tls, acl 1.0"


@pytest.mark.topology
@pytest.mark.parametrize("access_key, secret_key, says", [
    (rmqcluster.SECURE_ACCESS_KEY, "wrong-secret", "Check signature failed"),
    (rmqcluster.SECURE_V4_RESTRICTED_ACCESS_KEY, rmqcluster.SECURE_V4_RESTRICTED_SECRET_KEY,
     "No default permission"),
])
def test_secure_v4_refuses_a_wrong_secret_and_an_account_without_pub(secure_v4, access_key, secret_key, says):
    rc, out, err = run_cli("send", unique_topic("SecureV4Refused"), "refused", base=secure_v4, check=False,
                           env=tool_env(access_key, secret_key))
    assert rc == 1 and says in err, (rc, out, err)


@pytest.mark.topology
def test_secure_v4_brokers_close_plain_connections(secure_v4):
    with socket.create_connection(("127.0.0.1", secure_v4 + 100), timeout=5) as sock:
        sock.sendall(b"\x00\x00\x00\x10" + b"\x00" * 16)  # a remoting frame, not a TLS ClientHello
        sock.settimeout(10)
        try:
            data = sock.recv(1)
        except ConnectionResetError:
            data = b""
    assert data == b"", "a secure 4.9.7 broker answered plain TCP"


@pytest.mark.topology
def test_secure_v4_down_leaves_no_process(secure_v4):
    assert len(rmqcluster.member_processes(secure_v4)) == 3
    run_cli("down", base=secure_v4, timeout=120)
    assert rmqcluster.member_processes(secure_v4) == []


# Controller mode (5.3.3): one group of three brokers whose master the controller in the NameServer
# elects; `failover` kills the master and waits for the next.

CONTROLLER_REPLICAS = {f"broker-a-{i}": f"127.0.0.1:{BASE + 100 + 10 * i}" for i in range(3)}


@pytest.fixture(scope="module")
def controller():
    run_cli("down", base=BASE, check=False)
    started = time.monotonic()
    rc, out, err = run_cli("up", "--topology", "controller", base=BASE, check=False, timeout=UP_TIMEOUT_S)
    if rc != 0:
        _, logs, _ = run_cli("logs", base=BASE, check=False)
        run_cli("down", base=BASE, check=False)
        pytest.fail(f"up --topology controller failed: {err.strip()}\n{logs}")
    print(f"\nup --topology controller: {time.monotonic() - started:.1f} s")
    assert out.strip().splitlines()[-1] == f"NAMESRV_ADDR=127.0.0.1:{BASE}"
    yield
    run_cli("down", base=BASE, check=False)


def controller_brokers():
    """broker-info by member name, and the NameServer's id -> address table of broker-a."""
    info = {i["name"]: i for i in json_lines(run_cli("broker-info", base=BASE)[1])}
    registered = rmqcluster.cluster_info(f"127.0.0.1:{BASE}")["brokerAddrTable"]["broker-a"]["brokerAddrs"]
    return info, {str(k): v for k, v in registered.items()}


def assert_one_master(info, registered):
    masters = [name for name, i in info.items() if i["brokerRole"] == "SYNC_MASTER"]
    assert len(masters) == 1, info
    (master,) = masters
    assert info[master]["brokerId"] == 0 and registered["0"] == CONTROLLER_REPLICAS[master], (info, registered)
    slave_ids = {str(i["brokerId"]) for name, i in info.items() if name != master}
    assert all(i["brokerRole"] == "SLAVE" for name, i in info.items() if name != master), info
    # Slaves keep the ids the controller gave them (1, 2, 3); the master registers as 0.
    assert {k: v for k, v in registered.items() if k != "0"} == {
        str(i["brokerId"]): CONTROLLER_REPLICAS[name] for name, i in info.items() if name != master}
    assert "0" not in slave_ids and len(slave_ids) == len(info) - 1
    return master


@pytest.mark.topology
def test_controller_elects_one_master_and_registers_every_broker_with_its_role(controller):
    _, status, _ = run_cli("status", base=BASE)
    assert "deployment: controller, RocketMQ 5.3.3" in status, status
    info, registered = controller_brokers()
    assert set(info) == set(CONTROLLER_REPLICAS)
    assert {i["version"] for i in info.values()} == {"V5_3_3"}
    assert {i["brokerName"] for i in info.values()} == {"broker-a"}
    assert_one_master(info, registered)
    # `up` returned with every replica in the master's SyncStateSet.
    in_sync = rmqcluster.Cluster(BASE).controller.sync_state_set()
    assert len(in_sync) == len(CONTROLLER_REPLICAS) and {int(k) for k in registered if k != "0"} < in_sync


@pytest.mark.topology
def test_controller_java_sent_message_is_read_back(controller):
    topic = unique_topic("CtlSend")
    run_cli("create-topic", topic, "--queues", 2, base=BASE)
    sent = json.loads(run_cli("send", topic, "sent on controller", "--keys", "ctl-key", base=BASE)[1])
    assert sent["status"] == "SEND_OK" and sent["brokerName"] == "broker-a"
    (msg,) = json_lines(run_cli("read-topic", topic, "--expect", 1, base=BASE)[1])
    assert msg["msgId"] == sent["msgId"] and base64.b64decode(msg["bodyBase64"]) == b"sent on controller"
    _, registered = controller_brokers()
    assert msg["storeHost"] == registered["0"]


@pytest.mark.topology
def test_failover_elects_another_master_that_has_the_acknowledged_messages(controller):
    topic = unique_topic("CtlFailover")
    run_cli("create-topic", topic, "--queues", 2, base=BASE)
    sent = json_lines(run_cli("send", topic, "before failover", "--count", 5, base=BASE)[1])
    assert {s["status"] for s in sent} == {"SEND_OK"}
    info, registered = controller_brokers()
    old_master = assert_one_master(info, registered)

    report = json.loads(run_cli("failover", "broker-a", base=BASE, timeout=120)[1])
    print(f"\nfailover: {report}")
    assert report["killed"] == old_master and report["master"] != old_master, report
    assert report["addr"] == CONTROLLER_REPLICAS[report["master"]] and report["seconds"] > 0
    info, registered = controller_brokers()
    assert old_master not in info and assert_one_master(info, registered) == report["master"]
    route = json.loads(run_cli("route", topic, base=BASE)[1])
    assert route["brokerDatas"][0]["brokerAddrs"]["0"] == report["addr"], route
    # allAckInSyncStateSet: every acknowledged message is on the elected master.
    read = json_lines(run_cli("read-topic", topic, "--expect", len(sent), base=BASE)[1])
    assert sorted(m["msgId"] for m in read) == sorted(s["msgId"] for s in sent)
    after = json.loads(run_cli("send", topic, "after failover", base=BASE)[1])
    assert after["status"] == "SEND_OK"
    assert json.loads(run_cli("read-key", topic, after["msgId"], base=BASE)[1])["storeHost"] == report["addr"]

    # The killed master comes back as a slave of the new one.
    run_cli("start-broker", old_master, base=BASE, timeout=300)
    info, registered = controller_brokers()
    assert assert_one_master(info, registered) == report["master"]
    assert info[old_master]["brokerRole"] == "SLAVE"
    _, status, _ = run_cli("status", base=BASE)
    assert "not registered" not in status, status


@pytest.mark.topology
def test_controller_usage_errors(controller):
    rc, _, err = run_cli("failover", "broker-b", base=BASE, check=False)
    assert rc == 64
    assert_one_line_error(rc, err, "unknown group 'broker-b'", "broker-a")
    rc, _, err = run_cli("failover", base=BASE, check=False)
    assert rc == 64
    assert_one_line_error(rc, err, "expected arguments: GROUP")
    rc, _, err = run_cli("kill-broker", "broker-a", base=BASE, check=False)
    assert rc == 64
    assert_one_line_error(rc, err, "unknown broker 'broker-a'", "broker-a-0, broker-a-1, broker-a-2")
    rc, _, err = run_cli("up", "--topology", "master-slave", base=BASE, check=False)
    assert_one_line_error(rc, err, "running controller, RocketMQ 5.3.3", "down")
    assert len(rmqcluster.member_processes(BASE)) == 1 + len(CONTROLLER_REPLICAS)


@pytest.mark.topology
def test_controller_down_leaves_no_process(controller):
    assert len(rmqcluster.member_processes(BASE)) == 1 + len(CONTROLLER_REPLICAS)
    run_cli("down", base=BASE, timeout=120)
    assert rmqcluster.member_processes(BASE) == []


# ------------------------------------------------------------------------------------------------
# Bad input: usage errors before anything starts (no cluster; default suite)


@pytest.mark.parametrize("args, words", [
    (["--topology", "ring"], ["unknown topology 'ring'", "master-slave"]),
    (["--version", "6.0.0"], ["unsupported RocketMQ version '6.0.0'"]),
    (["--version", "latest"], ["unsupported RocketMQ version 'latest'"]),
    (["--role", "sync"], ["--role sync needs slaves"]),
    (["--topology", "master-slave", "--role", "maybe"], ["--role expects sync or async"]),
    (["--flush", "sometimes"], ["--flush expects sync or async"]),
    (["--secure", "--topology", "master-slave"], ["--secure", "masters only"]),
    (["--topology", "proxy", "--version", "4.9.7"], ["--topology proxy needs RocketMQ 5.x"]),
    (["--topology", "proxy", "--secure"], ["--secure", "masters only"]),
    (["--topology"], ["option --topology needs a value"]),
    (["--topology", "controller", "--version", "4.9.7"], ["--topology controller needs RocketMQ 5.x"]),
    (["--topology", "controller", "--role", "async"], ["--role does not apply to --topology controller"]),
    (["--netns", "--topology", "proxy"], ["--netns", "not available for --topology proxy"]),
])
def test_bad_deployment_options_are_usage_errors(args, words):
    before = rmqcluster.member_processes(BAD_BASE)
    rc, out, err = run_cli("up", *args, base=BAD_BASE, check=False)
    assert rc == 64 and "NAMESRV_ADDR" not in out
    assert_one_line_error(rc, err, *words)
    assert rmqcluster.member_processes(BAD_BASE) == before, "a usage error starts nothing"


def test_failover_needs_the_controller_deployment():
    before = rmqcluster.member_processes(BAD_BASE)
    rc, _, err = run_cli("failover", "broker-a", base=BAD_BASE, check=False)
    assert rc == 64
    assert_one_line_error(rc, err, "failover needs the controller deployment")
    assert rmqcluster.member_processes(BAD_BASE) == before


def test_unknown_broker_names_the_slaves_too():
    # The deployment recorded for BAD_BASE is the default one unless a test left another there.
    cluster = rmqcluster.Cluster(BAD_BASE)
    cluster._use(rmqcluster.Deployment("master-slave"))
    with pytest.raises(rmqcluster.ClusterError) as failure:
        cluster.broker("broker-c-s")
    assert "broker-a-s" in str(failure.value) and "broker-b-s" in str(failure.value)


# ------------------------------------------------------------------------------------------------
# `up --netns`: each server in a network namespace of its own; partition / heal. On a base of its
# own (RMQ_NETNS_TOPOLOGY_PORT_BASE, default BASE + 500), so it never meets the deployments above.

NETNS_BASE = int(os.environ.get("RMQ_NETNS_TOPOLOGY_PORT_BASE", str(BASE + 500)))
NETWORK = rmqcluster.netns.Network(NETNS_BASE)


@pytest.fixture(scope="module")
def netns_cluster():
    """`up --netns` brought up cold on NETNS_BASE (skipped where namespaces cannot be made)."""
    reason = rmqcluster.netns.unavailable_reason()
    if reason:
        pytest.skip(f"network namespaces unavailable: {reason}")
    run_cli("down", base=NETNS_BASE, check=False)
    started = time.monotonic()
    rc, out, err = run_cli("up", "--netns", base=NETNS_BASE, check=False, timeout=UP_TIMEOUT_S)
    if rc != 0:
        _, logs, _ = run_cli("logs", base=NETNS_BASE, check=False)
        run_cli("down", base=NETNS_BASE, check=False)
        pytest.fail(f"up --netns failed: {err.strip()}\n{logs}")
    print(f"\nup --netns: {time.monotonic() - started:.1f} s")
    assert out.strip().splitlines()[-1] == f"NAMESRV_ADDR={NETWORK.address('namesrv')}:{NETNS_BASE}"
    yield Deployment("masters", "5.3.3")
    run_cli("down", base=NETNS_BASE, check=False)


def netns_cli(*args, **kwargs):
    return run_cli(*args, base=NETNS_BASE, **kwargs)


def broker_addr(name):
    return f"{NETWORK.address(name)}:{NETNS_BASE + (100 if name == 'broker-a' else 200)}"


@pytest.mark.topology
def test_netns_servers_register_at_their_namespace_addresses(netns_cluster):
    _, status, _ = netns_cli("status")
    assert "a network namespace per server" in status and f"bridge {NETWORK.bridge}" in status, status
    assert sorted(NETWORK.namespaces()) == sorted(NETWORK.namespace(n) for n in ("namesrv", "broker-a", "broker-b"))
    _, out, _ = netns_cli("admin", "clusterList", timeout=60)
    addrs = {fields[3]: fields[1] for fields in map(str.split, out.splitlines())
             if len(fields) > 4 and fields[0] == "DefaultCluster"}
    assert addrs == {broker_addr("broker-a"): "broker-a", broker_addr("broker-b"): "broker-b"}, out
    topic = unique_topic("NetnsRoute")
    netns_cli("create-topic", topic, "--queues", 2)
    route = json.loads(netns_cli("route", topic)[1])
    assert {b["brokerName"]: b["brokerAddrs"] for b in route["brokerDatas"]} == {
        name: {"0": broker_addr(name)} for name in ("broker-a", "broker-b")}
    # Nothing listens on loopback: the servers are only at their own addresses.
    assert not rmqcluster.port_accepts(NETNS_BASE) and not rmqcluster.port_accepts(NETNS_BASE + 100)


@pytest.mark.topology
def test_netns_java_sent_message_is_read_back(netns_cluster):
    topic = unique_topic("NetnsSend")
    netns_cli("create-topic", topic, "--queues", 2)
    sent = json.loads(netns_cli("send", topic, "across the bridge")[1])
    assert sent["status"] == "SEND_OK"
    (msg,) = json_lines(netns_cli("read-topic", topic, "--expect", 1)[1])
    assert msg["msgId"] == sent["msgId"] and base64.b64decode(msg["bodyBase64"]) == b"across the bridge"
    assert msg["storeHost"] == broker_addr(sent["brokerName"])


def request_runtime_info(sock, opaque):
    header = json.dumps({"code": rmqcluster.GET_BROKER_RUNTIME_INFO, "extFields": {}, "flag": 0,
                         "language": "JAVA", "opaque": opaque, "serializeTypeCurrentRPC": "JSON",
                         "version": rmqcluster.REMOTING_VERSION}).encode()
    sock.sendall(struct.pack(">ii", 4 + len(header), len(header)) + header)


def read_response_opaque(sock):
    (length,) = struct.unpack(">i", rmqcluster._recv_exact(sock, 4))
    frame = rmqcluster._recv_exact(sock, length)
    header_len = struct.unpack(">i", frame[:4])[0] & 0xFFFFFF
    return json.loads(frame[4:4 + header_len])["opaque"]


@pytest.mark.topology
def test_partition_makes_a_broker_unreachable_without_closing_its_connections(netns_cluster):
    host, port = broker_addr("broker-a").split(":")
    with socket.create_connection((host, int(port)), timeout=3) as held:
        request_runtime_info(held, 1)
        assert read_response_opaque(held) == 1
        netns_cli("partition", "broker-a")
        try:
            assert "partitioned" in next(ln for ln in netns_cli("status")[1].splitlines()
                                         if ln.startswith("broker-a"))
            # Half-open: the request vanishes, yet the connection reports neither reset nor close.
            request_runtime_info(held, 2)
            with pytest.raises(socket.timeout):
                read_response_opaque(held)
            with pytest.raises(OSError):
                socket.create_connection((host, int(port)), timeout=2).close()
            # The other broker and the name server are untouched.
            assert rmqcluster.broker_info(broker_addr("broker-b"))["brokerName"] == "broker-b"
            assert rmqcluster.cluster_info(f"{NETWORK.address('namesrv')}:{NETNS_BASE}")
        finally:
            netns_cli("heal", "broker-a")
        # Healed, TCP retransmits: the request sent during the partition is answered on the same
        # connection (retransmission backs off, hence the long wait).
        held.settimeout(60)
        assert read_response_opaque(held) == 2
    assert rmqcluster.broker_info(broker_addr("broker-a"))["brokerName"] == "broker-a"


@pytest.mark.topology
def test_partitioned_name_server_answers_nothing_until_healed(netns_cluster):
    namesrv = f"{NETWORK.address('namesrv')}:{NETNS_BASE}"
    netns_cli("partition", "namesrv")
    try:
        with pytest.raises(rmqcluster.ClusterError, match="cannot reach"):
            rmqcluster.remoting_call(namesrv, rmqcluster.GET_BROKER_CLUSTER_INFO, timeout=2)
        rc, _, err = netns_cli("heal", "broker-x", check=False)
        assert rc == 64 and "unknown server 'broker-x'" in err and "namesrv" in err
    finally:
        netns_cli("heal", "namesrv")
    netns_cli("heal", "namesrv")  # healing a healed server changes nothing
    # A broker whose registration timed out during the partition closed that connection; its FIN
    # reaches the healed NameServer, which then drops the broker until its next registration
    # (every 30 s): the route may lack it for that long.
    healed = time.monotonic()
    wait_for(lambda: set(rmqcluster.cluster_info(namesrv)["brokerAddrTable"]) == {"broker-a", "broker-b"}, 45,
             "both brokers registered again after the heal")
    print(f"\nboth brokers registered {time.monotonic() - healed:.1f} s after the NameServer's heal")


@pytest.mark.topology
def test_netns_down_leaves_no_process_namespace_or_link(netns_cluster):
    assert len(rmqcluster.member_processes(NETNS_BASE)) == 3
    netns_cli("partition", "broker-b")  # down also removes a partitioned server's link
    netns_cli("down", timeout=120)
    assert rmqcluster.member_processes(NETNS_BASE) == []
    assert NETWORK.namespaces() == [] and NETWORK.links() == []


def test_partition_needs_a_known_server_and_namespaces():
    before = rmqcluster.member_processes(BAD_BASE)
    rc, _, err = run_cli("partition", "broker-x", base=BAD_BASE, check=False)
    assert rc == 64
    assert_one_line_error(rc, err, "unknown server 'broker-x'", "namesrv, broker-a, broker-b")
    rc, _, err = run_cli("heal", base=BAD_BASE, check=False)
    assert rc == 64
    assert rmqcluster.member_processes(BAD_BASE) == before
    # A deployment started without --netns (checked in memory: nothing of the base is touched).
    cluster = rmqcluster.Cluster(BAD_BASE)
    cluster._use(rmqcluster.Deployment())
    with pytest.raises(rmqcluster.ClusterError, match="runs on loopback .start it with `up --netns`") as failure:
        cluster.partition("broker-a")
    assert failure.value.exit_code == 64


def test_netns_leaves_a_subnet_the_machine_already_routes_alone(monkeypatch):
    calls = []

    def fake_ip(*args, check=True):
        calls.append(args)
        return "10.1.2.0/24 dev eth1 proto kernel scope link\n" if args[:2] == ("-4", "route") else ""

    monkeypatch.setattr(rmqcluster.netns, "unavailable_reason", lambda: None)
    monkeypatch.setattr(rmqcluster.netns, "_ip", fake_ip)
    with pytest.raises(rmqcluster.netns.NetnsError, match="already routed"):
        rmqcluster.netns.Network(BAD_BASE).create(["namesrv"])
    assert not any(args[:2] in (("link", "add"), ("netns", "add"), ("addr", "add")) for args in calls), calls


def test_without_namespace_rights_netns_falls_back_to_loopback_and_partition_says_why(monkeypatch, tmp_path):
    monkeypatch.setattr(rmqcluster.netns, "unavailable_reason", lambda: "not running as root (test)")
    monkeypatch.setattr(rmqcluster.netns.Network, "remove_all", lambda self: None)
    cluster = rmqcluster.Cluster(BAD_BASE)
    cluster.netns_unavailable_file = tmp_path / "netns-unavailable"
    cluster._use(rmqcluster.Deployment(netns=True))
    cluster._make_network()
    assert cluster.network is None and cluster.namesrv_addr == f"127.0.0.1:{BAD_BASE}"
    assert any("network: loopback (namespaces unavailable: not running as root (test))" in line
               for line in cluster.status_lines())
    with pytest.raises(rmqcluster.ClusterError, match="unavailable .not running as root") as failure:
        cluster.partition("broker-a")
    assert failure.value.exit_code == 1
