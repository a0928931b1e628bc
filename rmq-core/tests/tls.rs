//! TLS (rustls) against the real servers, which accept TLS and plain TCP on one port
//! (permissive mode, self-signed certificate by default).

mod support;

use rmq_core::{ErrorKind, Message};
use support::{by_msg_id, create_topic, producer, read_topic, unique_group, unique_topic};

#[tokio::test(flavor = "multi_thread")]
async fn messages_travel_over_tls() {
    let topic = unique_topic("Tls");
    create_topic(&topic, 2);
    // The servers' default certificate is self-signed: accept it, as Java's test mode does.
    let producer = producer(
        &unique_group("tls"),
        &[
            ("tls", "true"),
            ("tls_verify", "false"),
            ("instance_name", "tls-insecure"),
        ],
    );
    producer.start().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            producer
                .send(Message::new(&topic, format!("over tls {i}")))
                .await
                .unwrap()
                .msg_id,
        );
    }
    ids.push(
        producer
            .send_async(Message::new(&topic, "async over tls"))
            .await
            .unwrap()
            .msg_id,
    );
    producer.shutdown().await.unwrap();
    let stored = by_msg_id(&read_topic(&topic, ids.len()));
    assert!(ids.iter().all(|id| stored.contains_key(id)));

    // Checking certificates against the system's roots refuses the self-signed one: proof that
    // the server did speak TLS, and that verification is on by default.
    let strict = producer_strict();
    strict.start().await.unwrap();
    let err = strict
        .send(Message::new(&topic, "never"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.message().contains("TLS handshake"), "{err}");
    strict.shutdown().await.unwrap();
}

fn producer_strict() -> rmq_core::Producer {
    producer(
        &unique_group("tls_strict"),
        &[
            ("tls", "true"),
            ("instance_name", "tls-strict"),
            ("retry_times", "0"),
        ],
    )
}
