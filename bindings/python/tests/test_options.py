"""Producer options proven against the real cluster and read back with its own (Java) reader:
delay levels and timer messages, namespaces, the VIP channel, TLS, ACL signing (on the secure
cluster), async backpressure and compression; and typed errors for bad option values."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import TYPE_CHECKING, Any, Literal, Optional

import pytest

import rmqproducer
from rmqproducer import Message, Producer, SendResult

if TYPE_CHECKING:
    from conftest import Cluster, SecureCluster

pytestmark = pytest.mark.cluster


def now_ms() -> int:
    return int(time.time() * 1000)


def test_delay_levels_and_timer_messages_are_stored_when_due(
    producer: Producer, topic: str, cluster: Cluster
) -> None:
    cluster.create_topic(topic, 2)
    sent_at = time.monotonic()
    # (message, delay in ms, the broker's precision: the timer wheel works in whole seconds)
    cases = [
        (Message(topic, b"delay level 1 (1 s)", delay_level=1), 1000, 100),
        (Message(topic, b"delay level 2 (5 s)", delay_level=2), 5000, 100),
        (Message(topic, b"timer, due in 4 s", deliver_time_ms=now_ms() + 4000), 4000, 1000),
    ]
    sent = [(producer.send(msg).msg_id, delay, precision) for msg, delay, precision in cases]

    early = {m.msg_id for m in cluster.read_topic(topic)}
    early_elapsed_ms = (time.monotonic() - sent_at) * 1000
    for msg_id, delay, _ in sent:
        if early_elapsed_ms < delay:
            assert msg_id not in early, f"{msg_id} (delay {delay} ms) visible too early"

    stored = cluster.by_msg_id(topic, len(sent))
    for msg_id, delay, precision in sent:
        found = stored[msg_id]
        assert found.topic == topic
        waited = found.store_timestamp - found.born_timestamp
        assert waited >= delay - precision, f"{msg_id}: stored {waited} ms after birth"


def test_namespace_wraps_the_stored_topic(
    namesrv: str, group: str, topic: str, cluster: Cluster
) -> None:
    namespace = "pyns"
    wrapped = f"{namespace}%{topic}"
    with Producer(group, namesrv, namespace=namespace) as producer:
        single = producer.send(Message(topic, b"single"))
        assert single.queue.topic == topic
        queues = producer.publish_queues(topic)
        assert queues and all(q.topic == topic for q in queues)
        keyed = producer.send_with_sharding_key(Message(topic, b"keyed"), "k")
        explicit = producer.send_to_queue(Message(topic, b"explicit"), queues[0])
        batch = producer.send_batch([Message(topic, b"batch 1"), Message(topic, b"batch 2")])
        assert (keyed.queue.topic, explicit.queue, batch.queue.topic) == (topic, queues[0], topic)

    stored = cluster.by_msg_id(wrapped, 5)
    ids = [single.msg_id, keyed.msg_id, explicit.msg_id, *batch.msg_ids]
    for msg_id in ids:
        assert stored[msg_id].topic == wrapped
    with pytest.raises(rmqproducer.InvalidArgumentError):
        Producer(group, namesrv, namespace="bad%ns")


def port(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


def test_vip_channel_sends_go_to_port_minus_two(
    namesrv: str, group: str, topic: str, cluster: Cluster
) -> None:
    cluster.create_topic(topic, 2)
    route = json.loads(cluster.run("route", topic).strip())
    listen_ports = {port(b["brokerAddrs"]["0"]) for b in route["brokerDatas"]}
    used: set[int] = set()
    with Producer(group, namesrv, vip_channel_enabled=True) as producer:
        producer.add_send_hook(before=lambda ctx: used.add(port(ctx.broker_addr)))
        ids = [producer.send(Message(topic, f"vip {i}")).msg_id for i in range(20)]
        producer.flush()
    assert used == {p - 2 for p in listen_ports}, listen_ports
    stored = cluster.by_msg_id(topic, len(ids))
    assert set(ids) <= stored.keys()


async def test_tls_is_spoken_and_verified_by_default(
    namesrv: str, group: str, topic: str, cluster: Cluster
) -> None:
    """The test cluster's servers accept TLS and plain TCP on one port, with a self-signed
    certificate: accepted with tls_verify=False, refused with verification on."""
    with Producer(group, namesrv, tls=True, tls_verify=False, instance_name="py-tls") as producer:
        ids = [producer.send(Message(topic, f"over tls {i}")).msg_id for i in range(3)]
        ids.append((await producer.send_async(Message(topic, b"async over tls"))).msg_id)
    stored = cluster.by_msg_id(topic, len(ids))
    assert set(ids) <= stored.keys()

    strict_options: dict[str, Any] = {"tls": True, "instance_name": "py-tls-strict", "retry_times": 0}
    with Producer(group + "_strict", namesrv, **strict_options) as strict:
        with pytest.raises(rmqproducer.ConnectError, match="TLS handshake"):
            strict.send(Message(topic, b"never"))
        named = Producer(group + "_named", namesrv, tls=True, tls_server_name="broker.example", retry_times=0)
        with named, pytest.raises(rmqproducer.ConnectError):
            named.send(Message(topic, b"never"))


async def test_signed_messages_over_tls_are_stored_on_the_secure_cluster(
    group: str, topic: str, secure_cluster: SecureCluster
) -> None:
    with Producer(
        group,
        secure_cluster.namesrv,
        tls=True,
        tls_verify=False,
        access_key=secure_cluster.access_key,
        secret_key=secure_cluster.secret_key,
        instance_name="py-secure-signed",
    ) as producer:
        ids = [producer.send(Message(topic, f"signed {i}", keys=f"k{i}")).msg_id for i in range(3)]
        ids.append((await producer.send_async(Message(topic, b"signed async"))).msg_id)
        ids.extend(producer.send_batch([Message(topic, b"b1"), Message(topic, b"b2")]).msg_ids)
        ids.append(producer.send_with_sharding_key(Message(topic, b"keyed"), "k").msg_id)
    stored = secure_cluster.cluster.by_msg_id(topic, len(ids))
    assert set(ids) <= stored.keys()
    assert stored[ids[0]].body == b"signed 0"


def test_unsigned_or_wrongly_signed_sends_are_refused_by_the_secure_cluster(
    group: str, topic: str, secure_cluster: SecureCluster
) -> None:
    for name, credentials in [
        ("unsigned", {}),
        ("wrong-secret", {"access_key": secure_cluster.access_key, "secret_key": "not-the-secret"}),
    ]:
        options: dict[str, Any] = {"tls": True, "tls_verify": False, "retry_times": 0, **credentials}
        with Producer(f"{group}_{name}", secure_cluster.namesrv, instance_name=name, **options) as p:
            with pytest.raises(rmqproducer.BrokerError) as caught:
                p.send(Message(topic, b"refused"))
        # NO_PERMISSION
        assert caught.value.response_code == 16 and caught.value.remark, repr(caught.value)


def test_plain_tcp_and_certificate_verification_fail_on_the_secure_cluster(
    group: str, topic: str, secure_cluster: SecureCluster
) -> None:
    signed: dict[str, Any] = {"access_key": secure_cluster.access_key, "secret_key": secure_cluster.secret_key}
    with Producer(group + "_plain", secure_cluster.namesrv, retry_times=0, **signed) as plain:
        began = time.monotonic()
        with pytest.raises(rmqproducer.NetworkError):
            plain.send(Message(topic, b"in the clear"))
        assert time.monotonic() - began < 10
    strict = Producer(
        group + "_strict", secure_cluster.namesrv, tls=True, retry_times=0, instance_name="py-strict", **signed
    )
    with strict, pytest.raises(rmqproducer.ConnectError, match="TLS handshake"):
        strict.send(Message(topic, b"never"))


async def test_backpressure_fail_mode_refuses_when_full(
    namesrv: str, group: str, topic: str, cluster: Cluster
) -> None:
    for options, body_len in [
        ({"max_async_in_flight": 2, "max_async_in_flight_bytes": 0}, 10),
        ({"max_async_in_flight": 0, "max_async_in_flight_bytes": 1000}, 600),
    ]:
        with Producer(group, namesrv, backpressure="fail", **options) as producer:  # type: ignore[arg-type]
            producer.send(Message(topic, b"warm up the route"))
            # A send refused for want of room raises at once; the others resolve their futures.
            outcomes: list[object] = []
            futures = []
            for _ in range(50):
                try:
                    futures.append(producer.send_async(Message(topic, b"x" * body_len)))
                except rmqproducer.TooManyRequestsError as refused_at_once:
                    outcomes.append(refused_at_once)
            outcomes += await asyncio.gather(*futures, return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, rmqproducer.TooManyRequestsError)]
        sent = [o.msg_id for o in outcomes if isinstance(o, SendResult)]
        assert refused, f"{options}: nothing was refused"
        assert len(refused) + len(sent) == 50, outcomes
    stored = cluster.by_msg_id(topic, len(sent) + 2)
    assert set(sent) <= stored.keys()


def test_backpressure_block_mode_waits_for_room(
    namesrv: str, group: str, topic: str, cluster: Cluster
) -> None:
    results: list[Optional[SendResult]] = []
    errors: list[Optional[BaseException]] = []
    most_in_flight = 0

    def done(result: Optional[SendResult], error: Optional[rmqproducer.RmqError]) -> None:
        results.append(result)
        errors.append(error)

    with Producer(group, namesrv, max_async_in_flight=4, backpressure="block") as producer:
        producer.send(Message(topic, b"warm up the route"))
        for i in range(100):
            producer.send_callback(Message(topic, f"blocked {i}"), done)
            most_in_flight = max(most_in_flight, producer.in_flight)
        producer.flush()
    assert most_in_flight <= 4
    assert len(results) == 100 and not any(errors)
    ids = {r.msg_id for r in results if r}
    stored = cluster.by_msg_id(topic, 101)
    assert ids <= stored.keys()


@pytest.mark.parametrize(("compress_type", "type_bits"), [("zlib", 3), ("lz4", 1), ("zstd", 2)])
def test_compressed_bodies_are_read_back_decompressed(
    namesrv: str,
    group: str,
    topic: str,
    cluster: Cluster,
    compress_type: Literal["zlib", "lz4", "zstd"],
    type_bits: int,
) -> None:
    body = b"".join(b"line %06d of a compressible body\n" % i for i in range(20000))
    with Producer(group, namesrv, compress_type=compress_type) as producer:
        result = producer.send(Message(topic, body))
    [found] = cluster.read_topic(topic, 1)
    assert (found.msg_id, found.body) == (result.msg_id, body)
    assert found.sys_flag & 1, "stored compressed"
    assert (found.sys_flag >> 8) & 0x7 == type_bits


def test_default_compression_is_zlib(producer: Producer, topic: str, cluster: Cluster) -> None:
    body = b"z" * 100_000
    producer.send(Message(topic, body))
    [found] = cluster.read_topic(topic, 1)
    assert found.body == body and found.sys_flag & 1 and (found.sys_flag >> 8) & 0x7 == 3


@pytest.mark.parametrize(
    "options",
    [
        {"compress_type": "snappy"},
        {"backpressure": "sometimes"},
        {"max_async_in_flight": -1},
        {"tls": "maybe"},
        {"vip_channel_enabled": "perhaps"},
    ],
)
def test_bad_option_values_are_invalid_argument_errors(options: dict[str, Any]) -> None:
    with pytest.raises(rmqproducer.InvalidArgumentError):
        Producer("py_group_bad_options", "127.0.0.1:9876", **options)
