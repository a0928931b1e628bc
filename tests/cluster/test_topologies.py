"""The launcher's deployments beyond today's cluster, against the real servers: `master-slave` on
RocketMQ 5.3.3, `masters` and `master-slave` on 4.9.7, and `proxy` (the 5.3.3 Proxy in front of
`masters`). Each deployment is brought up cold on
RMQ_TOPOLOGY_PORT_BASE (default 21876; never the shared RMQ_PORT_BASE cluster), checked, and brought
down, one after the other. Marked `topology`: run with `make test-topologies` (or
`python3 -m pytest -m topology tests/cluster`). The bad-input tests at the end start nothing and run
in the default suite.
"""

import base64
import json
import os
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
    pytest.param(("proxy", "5.3.3"), id="proxy-5.3.3"),
]
VERSION_DESC = {"5.3.3": "V5_3_3", "4.9.7": "V4_9_7"}


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
# Bad input: usage errors before anything starts (no cluster; default suite)


@pytest.mark.parametrize("args, words", [
    (["--topology", "ring"], ["unknown topology 'ring'", "master-slave"]),
    (["--version", "6.0.0"], ["unsupported RocketMQ version '6.0.0'"]),
    (["--version", "latest"], ["unsupported RocketMQ version 'latest'"]),
    (["--role", "sync"], ["--role sync needs slaves"]),
    (["--topology", "master-slave", "--role", "maybe"], ["--role expects sync or async"]),
    (["--flush", "sometimes"], ["--flush expects sync or async"]),
    (["--secure", "--version", "4.9.7"], ["--secure", "5.x only"]),
    (["--topology", "proxy", "--version", "4.9.7"], ["--topology proxy needs RocketMQ 5.x"]),
    (["--topology", "proxy", "--secure"], ["--secure", "5.x only"]),
    (["--topology"], ["option --topology needs a value"]),
])
def test_bad_deployment_options_are_usage_errors(args, words):
    before = rmqcluster.member_processes(BAD_BASE)
    rc, out, err = run_cli("up", *args, base=BAD_BASE, check=False)
    assert rc == 64 and "NAMESRV_ADDR" not in out
    assert_one_line_error(rc, err, *words)
    assert rmqcluster.member_processes(BAD_BASE) == before, "a usage error starts nothing"


def test_unknown_broker_names_the_slaves_too():
    # The deployment recorded for BAD_BASE is the default one unless a test left another there.
    cluster = rmqcluster.Cluster(BAD_BASE)
    cluster._use(rmqcluster.Deployment("master-slave"))
    with pytest.raises(rmqcluster.ClusterError) as failure:
        cluster.broker("broker-c-s")
    assert "broker-a-s" in str(failure.value) and "broker-b-s" in str(failure.value)
