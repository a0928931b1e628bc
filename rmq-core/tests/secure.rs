//! TLS (rustls) and ACL 2.0 request signing against the secure cluster, whose brokers accept
//! only TLS and only signed requests (`rmq-cluster up --secure`). What was stored is read back by
//! the Java reader, which itself signs and speaks TLS.

mod support;

use std::time::{Duration, Instant};

use rmq_core::{ErrorKind, Message};
use support::{SecureCluster, by_msg_id, secure_cluster, unique_group, unique_topic};

/// TLS on, the server's self-signed certificate accepted (as Java's client test mode does).
const TLS_INSECURE: [(&str, &str); 2] = [("tls", "true"), ("tls_verify", "false")];

fn signed_options<'a>(cluster: &'a SecureCluster, instance: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut options = TLS_INSECURE.to_vec();
    options.extend([
        ("access_key", cluster.access_key.as_str()),
        ("secret_key", cluster.secret_key.as_str()),
        ("instance_name", instance),
    ]);
    options
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_messages_over_tls_are_stored() {
    let Some(cluster) = secure_cluster() else {
        return;
    };
    let topic = unique_topic("Secure");
    let producer = cluster.producer(
        &unique_group("secure"),
        &signed_options(cluster, "secure-signed"),
    );
    producer.start().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let msg = Message::new(&topic, format!("signed {i}")).with_keys([format!("k{i}")]);
        ids.push(producer.send(msg).await.unwrap().msg_id);
    }
    ids.push(
        producer
            .send_async(Message::new(&topic, "signed async"))
            .await
            .unwrap()
            .msg_id,
    );
    let batch = producer
        .send_batch(vec![Message::new(&topic, "b1"), Message::new(&topic, "b2")])
        .await
        .unwrap();
    ids.extend(batch.msg_ids().into_iter().map(str::to_string));
    producer.shutdown().await.unwrap();

    let stored = by_msg_id(&cluster.read_topic(&topic, ids.len()));
    for id in &ids {
        assert!(stored.contains_key(id), "{id} not stored: {stored:?}");
    }
    assert_eq!(stored[&ids[0]].body, b"signed 0");
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_or_wrongly_signed_requests_are_refused() {
    let Some(cluster) = secure_cluster() else {
        return;
    };
    let topic = unique_topic("SecureRefused");
    let wrong_secret = [
        ("access_key", cluster.access_key.as_str()),
        ("secret_key", "not-the-secret"),
    ];
    for (name, credentials) in [("unsigned", &[][..]), ("wrong secret", &wrong_secret[..])] {
        let mut options = TLS_INSECURE.to_vec();
        options.extend_from_slice(credentials);
        options.extend([("instance_name", name), ("retry_times", "0")]);
        let refused = cluster.producer(&unique_group("secure_refused"), &options);
        refused.start().await.unwrap();
        let err = refused
            .send(Message::new(&topic, "refused"))
            .await
            .unwrap_err();
        // NO_PERMISSION: "username cannot be null" / "check signature failed".
        assert_eq!(err.kind(), ErrorKind::Broker, "{name}: {err}");
        assert_eq!(err.response_code(), Some(16), "{name}: {err}");
        assert!(err.remark().is_some_and(|r| !r.is_empty()), "{name}: {err}");
        refused.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_tcp_is_refused_by_a_broker_that_requires_tls() {
    let Some(cluster) = secure_cluster() else {
        return;
    };
    let topic = unique_topic("SecurePlain");
    let plain = cluster.producer(
        &unique_group("secure_plain"),
        &[
            ("access_key", cluster.access_key.as_str()),
            ("secret_key", cluster.secret_key.as_str()),
            ("instance_name", "secure-plain"),
            ("retry_times", "0"),
        ],
    );
    plain.start().await.unwrap();
    let began = Instant::now();
    let err = plain
        .send(Message::new(&topic, "in the clear"))
        .await
        .unwrap_err();
    // The broker closes a connection that does not open with a TLS handshake.
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    assert!(began.elapsed() < Duration::from_secs(10), "{err}");
    plain.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_self_signed_certificate_is_refused_when_verifying() {
    let Some(cluster) = secure_cluster() else {
        return;
    };
    let topic = unique_topic("SecureVerify");
    // Verification against the system's roots is the default.
    let strict = cluster.producer(
        &unique_group("secure_strict"),
        &[
            ("tls", "true"),
            ("access_key", cluster.access_key.as_str()),
            ("secret_key", cluster.secret_key.as_str()),
            ("instance_name", "secure-strict"),
            ("retry_times", "0"),
        ],
    );
    strict.start().await.unwrap();
    let err = strict
        .send(Message::new(&topic, "never"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.message().contains("TLS handshake"), "{err}");
    strict.shutdown().await.unwrap();
}
