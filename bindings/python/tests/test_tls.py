"""TLS with client certificates (mutual TLS) against the launcher's mTLS cluster, whose broker
accepts only connections presenting a client certificate of its test CA; what was sent is read
back by the cluster's own (Java) reader. Also: the servers' certificates verified against that CA,
and bad certificate options refused at start."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import rmqproducer
from rmqproducer import Message, Producer

if TYPE_CHECKING:
    from conftest import MtlsCluster

pytestmark = pytest.mark.cluster


def verified(mtls_cluster: MtlsCluster, **options: Any) -> dict[str, Any]:
    """TLS verified against the launcher's CA (the servers' certificates name 127.0.0.1 and
    localhost), with `options`."""
    return {"tls": True, "tls_ca_file": mtls_cluster.files["ca"], **options}


async def test_a_client_certificate_from_files_or_pem_text_is_accepted(
    group: str, topic: str, mtls_cluster: MtlsCluster
) -> None:
    files = mtls_cluster.files
    forms: dict[str, dict[str, Any]] = {
        "files": {"tls_cert_file": files["cert"], "tls_key_file": files["key"]},
        "pem": {
            "tls_cert_pem": Path(files["cert"]).read_text(),
            "tls_key_pem": Path(files["key"]).read_text(),
            "tls_server_name": "localhost",
        },
    }
    ids = []
    for name, client_cert in forms.items():
        options = verified(mtls_cluster, instance_name=f"py-mtls-{name}", **client_cert)
        with Producer(f"{group}_{name}", mtls_cluster.namesrv, **options) as producer:
            ids.append(producer.send(Message(topic, f"{name} sync")).msg_id)
            ids.append((await producer.send_async(Message(topic, f"{name} async"))).msg_id)
    stored = mtls_cluster.cluster.by_msg_id(topic, len(ids))
    assert set(ids) <= stored.keys()
    assert stored[ids[0]].body == b"files sync" and stored[ids[2]].body == b"pem sync"


def test_the_broker_refuses_clients_without_a_certificate_of_its_ca(
    group: str, topic: str, mtls_cluster: MtlsCluster
) -> None:
    files = mtls_cluster.files
    untrusted = {"tls_cert_file": files["untrusted_cert"], "tls_key_file": files["untrusted_key"]}
    broker = f"connection to 127.0.0.1:{int(mtls_cluster.cluster.port_base) + 100}"
    for name, client_cert in [("without", {}), ("untrusted", untrusted)]:
        options = verified(mtls_cluster, instance_name=f"py-mtls-{name}", retry_times=0, **client_cert)
        with Producer(f"{group}_{name}", mtls_cluster.namesrv, **options) as producer:
            # The broker's TLS alert closes the connection under the first request.
            with pytest.raises(rmqproducer.NetworkError, match=re.escape(broker)):
                producer.send(Message(topic, b"never stored"))


def test_servers_are_verified_against_the_given_ca(group: str, topic: str, mtls_cluster: MtlsCluster) -> None:
    files = mtls_cluster.files
    client_cert = {"tls_cert_file": files["cert"], "tls_key_file": files["key"]}
    for name, server in [
        ("wrong-ca", {"tls_ca_file": files["untrusted_ca"]}),
        ("wrong-name", {"tls_server_name": "wrong.example"}),
    ]:
        options = {**verified(mtls_cluster, **client_cert), **server}
        options.update(instance_name=f"py-mtls-{name}", retry_times=0)
        with Producer(f"{group}_{name}", mtls_cluster.namesrv, **options) as producer:
            with pytest.raises(rmqproducer.ConnectError, match="TLS handshake"):
                producer.send(Message(topic, b"never stored"))


def test_bad_client_certificates_fail_start(group: str, mtls_cluster: MtlsCluster) -> None:
    files = mtls_cluster.files
    cases: list[tuple[dict[str, Any], str]] = [
        ({"tls_cert_file": "/nonexistent/client.pem", "tls_key_file": files["key"]}, "'tls_cert_file'"),
        ({"tls_cert_file": files["cert"]}, "without 'tls_key_file' or 'tls_key_pem'"),
        (
            {"tls_cert_file": files["cert"], "tls_key_file": files["untrusted_key"]},
            "does not belong to the certificate",
        ),
        (
            {"tls_cert_file": files["cert"], "tls_cert_pem": "x", "tls_key_file": files["key"]},
            "both set",
        ),
        ({"tls_cert_pem": "not PEM", "tls_key_file": files["key"]}, "no CERTIFICATE PEM block"),
    ]
    for options, expected in cases:
        producer = Producer(group, mtls_cluster.namesrv, **verified(mtls_cluster, **options))
        with pytest.raises(rmqproducer.InvalidArgumentError, match=expected):
            producer.start()
