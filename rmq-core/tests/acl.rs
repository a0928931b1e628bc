//! Request signing against brokers with authentication (ACL 2.0) on. Needs a cluster started
//! with the ACL settings of `tests/cluster/README.md`, and `RMQ_TOOL_ACCESS_KEY` /
//! `RMQ_TOOL_SECRET_KEY` set to its user (the Java reader signs with them too); without them
//! the test says so and checks nothing.

mod support;

use rmq_core::{ErrorKind, Message};
use support::{by_msg_id, producer, read_topic, unique_group, unique_topic};

fn cluster_credentials() -> Option<(String, String)> {
    let key = std::env::var("RMQ_TOOL_ACCESS_KEY").ok()?;
    let secret = std::env::var("RMQ_TOOL_SECRET_KEY").ok()?;
    Some((key, secret))
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_requests_pass_and_unsigned_ones_are_refused() {
    let Some((access_key, secret_key)) = cluster_credentials() else {
        eprintln!(
            "acl test skipped: RMQ_TOOL_ACCESS_KEY / RMQ_TOOL_SECRET_KEY not set (no authenticated cluster)"
        );
        return;
    };
    let topic = unique_topic("Acl");
    let signed = producer(
        &unique_group("acl"),
        &[
            ("access_key", &access_key),
            ("secret_key", &secret_key),
            ("instance_name", "acl-signed"),
        ],
    );
    signed.start().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let msg = Message::new(&topic, format!("signed {i}")).with_keys([format!("k{i}")]);
        ids.push(signed.send(msg).await.unwrap().msg_id);
    }
    ids.push(
        signed
            .send_async(Message::new(&topic, "signed async"))
            .await
            .unwrap()
            .msg_id,
    );
    let batch = signed
        .send_batch(vec![Message::new(&topic, "b1"), Message::new(&topic, "b2")])
        .await
        .unwrap();
    ids.extend(batch.msg_ids().into_iter().map(str::to_string));
    signed.shutdown().await.unwrap();
    let stored = by_msg_id(&read_topic(&topic, ids.len()));
    assert!(ids.iter().all(|id| stored.contains_key(id)));

    for (name, options) in [
        ("unsigned", vec![("instance_name", "acl-unsigned")]),
        (
            "wrong secret",
            vec![
                ("access_key", access_key.as_str()),
                ("secret_key", "not-the-secret"),
                ("instance_name", "acl-wrong"),
            ],
        ),
    ] {
        let mut options = options;
        options.push(("retry_times", "0"));
        let refused = producer(&unique_group("acl_refused"), &options);
        refused.start().await.unwrap();
        let err = refused
            .send(Message::new(&topic, "refused"))
            .await
            .unwrap_err();
        // NO_PERMISSION: "username cannot be null" / "check signature failed".
        assert_eq!(err.kind(), ErrorKind::Broker, "{name}: {err}");
        assert_eq!(err.response_code(), Some(16), "{name}: {err}");
        refused.shutdown().await.unwrap();
    }
}
