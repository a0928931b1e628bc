//! Transactional messages against the real broker: a committed message becomes visible, a
//! rolled-back one never does, and an unknown outcome is settled by the broker's check-back.
//!
//! The broker first checks a half message `transactionTimeOut` (6 s) after it was stored and
//! then every `transactionCheckInterval` (30 s); `RMQ_BROKER_CONF=transactionTimeOut=2000;
//! transactionCheckInterval=2000` on the cluster makes this test quick.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rmq_core::producer::{LocalTransactionState, TransactionProducer};
use rmq_core::{Message, ProducerConfig, SendStatus};
use support::{
    by_msg_id, cluster, create_topic, eventually, namesrv, read_topic, unique_group, unique_topic,
};

#[tokio::test(flavor = "multi_thread")]
async fn commit_rollback_and_checked_outcomes() {
    support::init_logging();
    let topic = unique_topic("Tx");
    create_topic(&topic, 4);
    let mut config = ProducerConfig::new(unique_group("tx"));
    config.namesrv_addr = Some(namesrv());

    // What the check-back answers, by body; and what it was asked about.
    let answers: BTreeMap<&str, LocalTransactionState> = [
        ("unknown then commit", LocalTransactionState::Commit),
        ("panics then rollback", LocalTransactionState::Rollback),
    ]
    .into_iter()
    .collect();
    let asked = Arc::new(Mutex::new(Vec::<(String, String, Option<String>)>::new()));
    let record = asked.clone();
    let producer = TransactionProducer::new(config, move |check| {
        let body = String::from_utf8_lossy(&check.message.body).into_owned();
        record.lock().push((
            check.msg_id.clone(),
            body.clone(),
            check.message.tags.clone(),
        ));
        answers
            .get(body.as_str())
            .copied()
            .unwrap_or(LocalTransactionState::Unknown)
    })
    .unwrap();
    producer.start().await.unwrap();

    let mut outcomes = Vec::new();
    for (body, local) in [
        ("commit", Some(LocalTransactionState::Commit)),
        ("rollback", Some(LocalTransactionState::Rollback)),
        ("unknown then commit", Some(LocalTransactionState::Unknown)),
        ("panics then rollback", None),
    ] {
        let msg = Message::new(&topic, body)
            .with_tags("TagTx")
            .with_keys([body]);
        let result = producer
            .send_in_transaction(msg, |sent, half| {
                assert_eq!(sent.body.as_ref(), body.as_bytes());
                assert_eq!(half.status, SendStatus::SendOk);
                local.unwrap_or_else(|| panic!("local transaction bug"))
            })
            .await
            .unwrap();
        assert_eq!(result.send_result.status, SendStatus::SendOk);
        assert_eq!(
            result.local_state,
            local.unwrap_or(LocalTransactionState::Unknown)
        );
        outcomes.push((body, result.send_result.msg_id));
    }
    let id = |body: &str| outcomes.iter().find(|(b, _)| *b == body).unwrap().1.clone();

    // The two committed messages appear; the checks of the other two happen.
    let stored = by_msg_id(&read_topic(&topic, 2));
    for body in ["commit", "unknown then commit"] {
        let found = stored
            .get(&id(body))
            .unwrap_or_else(|| panic!("committed {body:?} is not visible"));
        assert_eq!(found.body, body.as_bytes());
        assert_eq!(found.tags.as_deref(), Some("TagTx"));
        assert_eq!(found.sys_flag & 0xC, 0x8, "commit type in sysFlag");
    }
    let checked = |body: &str| {
        let want = id(body);
        asked.lock().iter().any(|(msg_id, b, tags)| {
            *msg_id == want && b == body && tags.as_deref() == Some("TagTx")
        })
    };
    assert!(
        eventually(90, || checked("unknown then commit")
            && checked("panics then rollback")),
        "the broker never checked the unknown transactions: {:?}",
        asked.lock()
    );
    producer.shutdown().await.unwrap();

    // Rolled back: never in the topic (read after the rollback's check was answered).
    let all = cluster(&["read-topic", &topic]);
    for body in ["rollback", "panics then rollback"] {
        assert!(!all.contains(&id(body)), "rolled back {body:?} is visible");
    }
    // Only the two committed ones (a check that races the first answer may commit one twice:
    // count distinct ids).
    let visible: std::collections::BTreeSet<String> =
        by_msg_id(&read_topic(&topic, 2)).into_keys().collect();
    assert_eq!(visible.len(), 2, "{visible:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_async_local_transaction_is_awaited_before_the_outcome_is_sent() {
    let topic = unique_topic("TxAsync");
    create_topic(&topic, 4);
    let mut config = ProducerConfig::new(unique_group("tx_async"));
    config.namesrv_addr = Some(namesrv());
    let producer = TransactionProducer::new(config, |_| LocalTransactionState::Rollback).unwrap();
    producer.start().await.unwrap();

    let committed = producer
        .send_in_transaction_async(
            Message::new(&topic, "awaited commit"),
            |sent, half| async move {
                assert_eq!(sent.body.as_ref(), b"awaited commit");
                assert_eq!(half.status, SendStatus::SendOk);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                LocalTransactionState::Commit
            },
        )
        .await
        .unwrap();
    assert_eq!(committed.local_state, LocalTransactionState::Commit);

    let panicked = producer
        .send_in_transaction_async(Message::new(&topic, "panics while awaited"), |_, _| async {
            tokio::task::yield_now().await;
            panic!("local transaction bug")
        })
        .await
        .unwrap();
    assert_eq!(panicked.local_state, LocalTransactionState::Unknown);

    let stored = by_msg_id(&read_topic(&topic, 1));
    let found = stored
        .get(&committed.send_result.msg_id)
        .expect("the committed message is not visible");
    assert_eq!(found.body, b"awaited commit");
    assert!(!stored.contains_key(&panicked.send_result.msg_id));
    producer.shutdown().await.unwrap();
}
