//! The producer on a secure RocketMQ 4.9.7 cluster (`up --secure --version 4.9.7`): brokers that
//! accept only TLS and only requests signed with ACL 1.0 (`aclEnable=true`, accounts in the
//! launcher's `plain_acl.yml`). What was stored is read back by the 4.9.7 Java reader, itself
//! signing and speaking TLS. Run by tests/deployments.sh, one test at a time; the check-back
//! test needs the quick transaction checks it sets (`RMQ_BROKER_CONF`).

mod support;

use std::sync::Once;
use std::time::{Duration, Instant};

use rmq_core::{ErrorKind, Message};
use support::{Deployment, by_msg_id, unique_group, unique_topic};

const PORT_BASE: u32 = 27876;
/// The accounts of the launcher's plain_acl.yml: the admin one (also the Java tools') and one
/// that may not publish.
const ADMIN: (&str, &str) = ("rocketmq", "12345678");
const RESTRICTED: (&str, &str) = ("rmq-restricted", "restricted-secret");

fn secure_v4() -> &'static Deployment {
    static BROUGHT_UP: Once = Once::new();
    let began = Instant::now();
    let deployment = support::deployment(PORT_BASE, &["--secure", "--version", "4.9.7"]);
    BROUGHT_UP.call_once(|| println!("secure 4.9.7 masters up in {:?}", began.elapsed()));
    deployment
}

/// TLS (the brokers' self-signed test certificate accepted) and ACL 1.0 signing as `account`.
fn signed<'a>(account: (&'a str, &'a str), more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut options = vec![
        ("tls", "true"),
        ("tls_verify", "false"),
        ("access_key", account.0),
        ("secret_key", account.1),
    ];
    options.extend_from_slice(more);
    options
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the v4_secure deployment: tests/deployments.sh"]
async fn signed_sends_over_tls_are_stored_with_either_header_encoding() {
    let cluster = secure_v4();
    let topic = unique_topic("V4Secure");
    cluster.create_topic(&topic, 2);
    let mut ids = Vec::new();
    // The signature covers every ext field as the broker decodes it: with the binary encoding an
    // empty value would come back as null, so both encodings must sign what they send.
    for serialize_type in ["rocketmq", "json"] {
        let producer = cluster.producer(
            &unique_group("v4_signed"),
            &signed(ADMIN, &[("serialize_type", serialize_type)]),
        );
        producer.start().await.unwrap();
        let msg = Message::new(&topic, format!("signed {serialize_type}"))
            .with_tags("TagS")
            .with_keys(["k1", "k2"])
            .with_property("p", "v");
        ids.push(producer.send(msg).await.unwrap().msg_id);
        ids.push(
            producer
                .send_async(Message::new(&topic, "async"))
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
    }
    let stored = by_msg_id(&cluster.read_topic(&topic, ids.len()));
    for id in &ids {
        assert!(stored.contains_key(id), "{id} acknowledged but not stored");
    }
    assert_eq!(stored[&ids[0]].body, b"signed rocketmq");
    assert_eq!(stored[&ids[0]].keys.as_deref(), Some("k1 k2"));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the v4_secure deployment: tests/deployments.sh"]
async fn unsigned_wrongly_signed_and_unpermitted_sends_are_typed_errors() {
    let cluster = secure_v4();
    let topic = unique_topic("V4Refused");
    cluster.create_topic(&topic, 2);
    let tls = [("tls", "true"), ("tls_verify", "false")];
    let wrong_secret = signed((ADMIN.0, "not-the-secret"), &[]);
    let restricted = signed(RESTRICTED, &[]);
    // ACL 1.0 refusals are exceptions in the broker's hook: SYSTEM_ERROR (1) with its message.
    for (name, options, says) in [
        ("unsigned", &tls[..], "No accessKey is configured"),
        ("wrong secret", &wrong_secret[..], "Check signature failed"),
        (
            "no PUB permission",
            &restricted[..],
            "No default permission",
        ),
    ] {
        let mut options = options.to_vec();
        options.push(("retry_times", "0"));
        let refused = cluster.producer(&unique_group("v4_refused"), &options);
        refused.start().await.unwrap();
        let err = refused
            .send(Message::new(&topic, "refused"))
            .await
            .unwrap_err();
        println!("{name}: {err}");
        assert_eq!(err.kind(), ErrorKind::Broker, "{name}: {err}");
        assert_eq!(err.response_code(), Some(1), "{name}: {err}");
        assert!(
            err.remark().is_some_and(|r| r.contains(says)),
            "{name}: {err}"
        );
        refused.shutdown().await.unwrap();
    }
    let nothing = cluster.cli(&["read-topic", &topic]);
    assert!(
        nothing.trim().is_empty(),
        "a refused send was stored: {nothing}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the v4_secure deployment: tests/deployments.sh"]
async fn plain_tcp_is_refused_by_a_4_9_broker_that_requires_tls() {
    let cluster = secure_v4();
    let plain = cluster.producer(
        &unique_group("v4_plain"),
        &[
            ("access_key", ADMIN.0),
            ("secret_key", ADMIN.1),
            ("retry_times", "0"),
        ],
    );
    plain.start().await.unwrap();
    let began = Instant::now();
    let err = plain
        .send(Message::new(unique_topic("V4Plain"), "in the clear"))
        .await
        .unwrap_err();
    // The NameServer answers plain TCP; the broker closes a connection that is not TLS.
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    assert!(began.elapsed() < Duration::from_secs(10), "{err}");
    plain.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the v4_secure deployment: tests/deployments.sh"]
async fn a_check_back_answered_commit_is_signed_and_commits() {
    let cluster = secure_v4();
    let topic = unique_topic("V4SecureTx");
    cluster.create_topic(&topic, 2);
    let config = cluster.config(&unique_group("v4_secure_tx"), &signed(ADMIN, &[]));
    cluster.assert_transactions_settle(&topic, config).await;
}
