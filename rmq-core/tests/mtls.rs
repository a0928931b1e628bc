//! TLS with client certificates (mutual TLS) against the launcher's mTLS cluster, whose broker
//! accepts only TLS connections presenting a client certificate of its test CA
//! (`rmq-cluster up --mtls`). What was stored is read back by the Java reader, which presents the
//! launcher's client certificate itself.

mod support;

use rmq_core::{ErrorKind, Message};
use support::{MtlsCluster, by_msg_id, mtls_cluster, unique_group, unique_topic};

/// TLS verified against the launcher's CA (the servers' certificates name 127.0.0.1).
fn verified(cluster: &MtlsCluster) -> Vec<(&str, &str)> {
    vec![("tls", "true"), ("tls_ca_file", cluster.file("ca"))]
}

/// Sends three messages with `options` and proves the Java reader finds them.
async fn sends_are_stored(cluster: &MtlsCluster, name: &str, options: &[(&str, &str)]) {
    let topic = unique_topic("Mtls");
    let mut options = options.to_vec();
    options.push(("instance_name", name));
    let producer = cluster.producer(&unique_group("mtls"), &options);
    producer.start().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..2 {
        let msg = Message::new(&topic, format!("{name} {i}"));
        ids.push(producer.send(msg).await.unwrap().msg_id);
    }
    let result = producer.send_async(Message::new(&topic, format!("{name} async")));
    ids.push(result.await.unwrap().msg_id);
    producer.shutdown().await.unwrap();

    let stored = by_msg_id(&cluster.read_topic(&topic, ids.len()));
    for id in &ids {
        assert!(
            stored.contains_key(id),
            "{name}: {id} not stored: {stored:?}"
        );
    }
    assert_eq!(stored[&ids[0]].body, format!("{name} 0").as_bytes());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_certificate_from_files_is_accepted() {
    let cluster = mtls_cluster();
    let mut options = verified(cluster);
    options.extend([
        ("tls_cert_file", cluster.file("cert")),
        ("tls_key_file", cluster.file("key")),
    ]);
    sends_are_stored(cluster, "mtls-files", &options).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_certificate_as_pem_text_is_accepted_with_a_named_server() {
    let cluster = mtls_cluster();
    let cert = std::fs::read_to_string(cluster.file("cert")).unwrap();
    let key = std::fs::read_to_string(cluster.file("key")).unwrap();
    let mut options = verified(cluster);
    // The servers' certificates name localhost too.
    options.extend([
        ("tls_cert_pem", cert.as_str()),
        ("tls_key_pem", key.as_str()),
        ("tls_server_name", "localhost"),
    ]);
    sends_are_stored(cluster, "mtls-pem", &options).await;
}

/// The error of one send with `options`, no retry.
async fn send_error(
    cluster: &MtlsCluster,
    name: &str,
    options: &[(&str, &str)],
) -> rmq_core::Error {
    let mut options = options.to_vec();
    options.extend([("instance_name", name), ("retry_times", "0")]);
    let producer = cluster.producer(&unique_group("mtls_refused"), &options);
    producer.start().await.unwrap();
    let err = producer
        .send(Message::new(unique_topic("MtlsRefused"), "never stored"))
        .await
        .unwrap_err();
    producer.shutdown().await.unwrap();
    err
}

#[tokio::test(flavor = "multi_thread")]
async fn the_broker_refuses_a_client_without_a_certificate_of_its_ca() {
    let cluster = mtls_cluster();
    let without = send_error(cluster, "mtls-without", &verified(cluster)).await;
    let mut untrusted = verified(cluster);
    untrusted.extend([
        ("tls_cert_file", cluster.file("untrusted_cert")),
        ("tls_key_file", cluster.file("untrusted_key")),
    ]);
    let untrusted = send_error(cluster, "mtls-untrusted", &untrusted).await;
    let base: u32 = cluster.port_base.parse().unwrap();
    let broker = format!("connection to 127.0.0.1:{}", base + 100);
    for (name, err) in [("no certificate", without), ("another CA's", untrusted)] {
        // The handshake completes on the client's side (TLS 1.3); the broker's alert (in the
        // message when the read saw it before a write failed) then closes the connection under
        // the first request.
        assert_eq!(err.kind(), ErrorKind::Network, "{name}: {err}");
        assert!(err.message().contains(&broker), "{name}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn servers_not_signed_by_the_ca_or_not_named_so_are_refused() {
    let cluster = mtls_cluster();
    let client_cert = [
        ("tls_cert_file", cluster.file("cert")),
        ("tls_key_file", cluster.file("key")),
    ];
    let mut wrong_ca = vec![
        ("tls", "true"),
        ("tls_ca_file", cluster.file("untrusted_ca")),
    ];
    wrong_ca.extend(client_cert);
    let mut wrong_name = verified(cluster);
    wrong_name.extend(client_cert);
    wrong_name.push(("tls_server_name", "wrong.example"));
    for (name, options) in [("mtls-wrong-ca", wrong_ca), ("mtls-wrong-name", wrong_name)] {
        let err = send_error(cluster, name, &options).await;
        assert_eq!(err.kind(), ErrorKind::Connect, "{name}: {err}");
        assert!(err.message().contains("TLS handshake"), "{name}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_client_certificates_fail_start_with_invalid_argument() {
    let cluster = mtls_cluster();
    let tls = ("tls", "true");
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                tls,
                ("tls_cert_file", "/nonexistent/client.pem"),
                ("tls_key_file", cluster.file("key")),
            ],
            "'tls_cert_file' (/nonexistent/client.pem)",
        ),
        (
            &[tls, ("tls_cert_file", cluster.file("cert"))],
            "without 'tls_key_file'",
        ),
        (
            &[
                tls,
                ("tls_cert_file", cluster.file("cert")),
                ("tls_key_file", cluster.file("untrusted_key")),
            ],
            "the private key does not belong to the certificate",
        ),
        (
            &[
                tls,
                ("tls_cert_file", cluster.file("key")),
                ("tls_key_file", cluster.file("key")),
            ],
            "no CERTIFICATE PEM block",
        ),
    ];
    for (options, expected) in cases {
        let producer = cluster.producer(&unique_group("mtls_bad"), options);
        let err = producer.start().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        assert!(err.message().contains(expected), "{err}");
    }
}
