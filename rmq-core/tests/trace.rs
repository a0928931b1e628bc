//! Message trace (`enable_msg_trace`) against brokers started with `traceTopicEnable=true`:
//! Java's own `mqadmin queryMsgTraceById` finds the Pub record of each send form, which proves
//! the record layout, the separators and the trace message's KEYS. A trace topic that cannot be
//! written costs the user's sends nothing: the lost records are counted.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rmq_core::producer::{LocalTransactionState, TransactionProducer};
use rmq_core::{Message, Producer, SendResult};
use support::{
    cluster, create_topic, eventually, namesrv, producer, read_topic, unique_group, unique_topic,
};

/// The Pub row `queryMsgTraceById` prints for `msg_id`: (group, cost, status), once the broker
/// has indexed the trace message.
fn pub_row(msg_id: &str) -> Option<(String, String, String)> {
    let mut row = None;
    eventually(60, || {
        let out = cluster(&["admin", "queryMsgTraceById", "-i", msg_id]);
        row = out.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                // Pub, group, client host, date, time, cost, status
                ["Pub", group, _, _, _, cost, status] => {
                    Some((group.to_string(), cost.to_string(), status.to_string()))
                }
                _ => None,
            }
        });
        if row.is_some() {
            println!("queryMsgTraceById -i {msg_id}:\n{out}");
        }
        row.is_some()
    });
    row
}

fn assert_traced(msg_id: &str, group: &str) {
    let (traced_group, cost, status) =
        pub_row(msg_id).unwrap_or_else(|| panic!("no Pub trace row for {msg_id}"));
    assert_eq!(traced_group, group);
    assert_eq!(status, "success");
    assert!(cost.ends_with("ms"), "cost {cost}");
}

fn traced_producer(group: &str) -> Producer {
    producer(group, &[("enable_msg_trace", "true")])
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_async_and_batch_sends_are_traced_as_java_reads_them() {
    let topic = unique_topic("Trace");
    create_topic(&topic, 2);
    let group = unique_group("trace");
    let producer = traced_producer(&group);
    producer.start().await.unwrap();

    let mut tagged = Message::new(&topic, "sync");
    tagged.tags = Some("TagA".into());
    tagged.keys = vec!["order-1".into(), "order-2".into()];
    let sync = producer.send(tagged).await.unwrap();
    let async_sent = producer
        .send_async(Message::new(&topic, "async"))
        .await
        .unwrap();
    let batch = producer
        .send_batch(vec![
            Message::new(&topic, "batch 1"),
            Message::new(&topic, "batch 2"),
        ])
        .await
        .unwrap();
    // A oneway send has no SendResult, so no record (as Java's hook).
    producer
        .send_oneway(Message::new(&topic, "oneway"))
        .await
        .unwrap();
    // Shutdown sends what is queued.
    producer.shutdown().await.unwrap();
    let stats = producer.trace_stats();
    assert_eq!((stats.sent, stats.dropped, stats.failed), (3, 0, 0));

    assert_traced(&sync.msg_id, &group);
    assert_traced(&async_sent.msg_id, &group);
    // A batch is one record under its joined msgId, as Java writes it.
    assert!(batch.msg_id.contains(','));
    assert_traced(&batch.msg_id, &group);
}

/// The records of the trace messages keyed by `msg_id`, as fields.
fn trace_records_of(msg_id: &str) -> Vec<Vec<String>> {
    read_topic("RMQ_SYS_TRACE_TOPIC", 1)
        .iter()
        .filter(|m| {
            let keys = m.keys.as_deref().unwrap_or_default();
            keys.split(' ').any(|key| key == msg_id)
        })
        .inspect(|m| assert_eq!(m.tags, None, "trace messages carry no tags"))
        .flat_map(|m| {
            let body = String::from_utf8(m.body.clone()).unwrap();
            body.split_terminator('\u{2}')
                .map(|record| record.split('\u{1}').map(str::to_string).collect())
                .collect::<Vec<Vec<String>>>()
        })
        .filter(|fields: &Vec<String>| fields.get(5).map(String::as_str) == Some(msg_id))
        .collect()
}

/// A commit, and an Unknown the check-back settles: the half messages' Pub records (type 1),
/// an EndTransaction record for each end, the check-back's marked fromTransactionCheck.
#[tokio::test(flavor = "multi_thread")]
async fn transactions_are_traced_with_their_ends_and_check_back_answers() {
    let topic = unique_topic("TraceTx");
    create_topic(&topic, 2);
    let group = unique_group("trace_tx");
    let mut config = rmq_core::ProducerConfig::new(&group);
    config.namesrv_addr = Some(namesrv());
    config.set("enable_msg_trace", "true").unwrap();
    let checks = Arc::new(AtomicUsize::new(0));
    let producer = {
        let checks = checks.clone();
        TransactionProducer::new(config, move |_| {
            checks.fetch_add(1, Ordering::SeqCst);
            LocalTransactionState::Commit
        })
        .unwrap()
    };
    producer.start().await.unwrap();
    let committed = producer
        .send_in_transaction(Message::new(&topic, "tx"), |_, _| {
            LocalTransactionState::Commit
        })
        .await
        .unwrap();
    let unknown = producer
        .send_in_transaction(Message::new(&topic, "tx, checked"), |_, _| {
            LocalTransactionState::Unknown
        })
        .await
        .unwrap();
    // The broker checks an unsettled half message after its transaction timeout (6 s by default,
    // then every transactionCheckInterval, 30 s by default).
    assert!(
        eventually(120, || checks.load(Ordering::SeqCst) > 0),
        "never checked"
    );
    // Two Pub and two EndTransaction records, and one per check answered. The broker may check a
    // half message again before the first answer has settled it, even while the producer shuts
    // down; the first answer's record is waited for.
    assert!(
        eventually(30, || producer.producer().trace_stats().sent >= 5),
        "the check-back answer's record was not sent"
    );
    producer.shutdown().await.unwrap();
    let stats = producer.producer().trace_stats();
    let checks = checks.load(Ordering::SeqCst) as u64;
    assert!(
        (5..=4 + checks).contains(&stats.sent),
        "{} records sent for 4 ends and {checks} check(s)",
        stats.sent
    );
    assert_eq!((stats.dropped, stats.failed), (0, 0));

    let committed_id = committed.send_result.msg_id.as_str();
    assert_traced(committed_id, &group);
    // mqadmin prints no EndTransaction rows: the trace topic's messages show them.
    let records = trace_records_of(committed_id);
    let half = records
        .iter()
        .find(|f| f[0] == "Pub")
        .expect("a Pub record");
    assert_eq!(half.len(), 14);
    assert_eq!(half[11], "1", "message type Trans_Msg_Half");
    let end = records
        .iter()
        .find(|f| f[0] == "EndTransaction")
        .expect("an end");
    assert_eq!(end.len(), 13);
    assert_eq!(&end[3..6], [group.as_str(), topic.as_str(), committed_id]);
    assert_eq!(&end[9..], ["2", committed_id, "COMMIT_MESSAGE", "false"]);

    let unknown_id = unknown.send_result.msg_id.as_str();
    let ends: Vec<(String, String)> = trace_records_of(unknown_id)
        .into_iter()
        .filter(|f| f[0] == "EndTransaction")
        .map(|f| (f[11].clone(), f[12].clone()))
        .collect();
    assert!(
        ends.contains(&("UNKNOW".into(), "false".into())),
        "{ends:?}"
    );
    assert!(
        ends.contains(&("COMMIT_MESSAGE".into(), "true".into())),
        "{ends:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trace_topic_that_cannot_be_written_costs_the_sends_nothing() {
    let topic = unique_topic("TraceUser");
    create_topic(&topic, 2);
    // Read-only queues (perm 4): every trace send fails with no writable queue.
    let trace_topic = unique_topic("TraceReadOnly");
    let out = cluster(&[
        "admin",
        "updateTopic",
        "-c",
        "DefaultCluster",
        "-t",
        &trace_topic,
        "-p",
        "4",
    ]);
    assert!(out.contains("success"), "{out}");
    let group = unique_group("trace_ro");
    let producer = producer(
        &group,
        &[
            ("enable_msg_trace", "true"),
            ("customized_trace_topic", &trace_topic),
        ],
    );
    producer.start().await.unwrap();
    let results: Vec<SendResult> = futures_util::future::join_all(
        (0..12).map(|i| producer.send(Message::new(&topic, format!("m{i}")))),
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    assert_eq!(results.len(), 12);
    producer.shutdown().await.unwrap();
    let stats = producer.trace_stats();
    assert_eq!((stats.sent, stats.dropped, stats.failed), (0, 0, 12));
}

#[test]
fn a_trace_topic_the_broker_reserves_is_refused_at_configuration() {
    let mut config = rmq_core::ProducerConfig::new("g");
    let err = config
        .set("customized_trace_topic", "SCHEDULE_TOPIC_XXXX")
        .unwrap_err();
    assert_eq!(err.kind(), rmq_core::ErrorKind::InvalidArgument);
    let err = config
        .set("customized_trace_topic", "bad topic")
        .unwrap_err();
    assert_eq!(err.kind(), rmq_core::ErrorKind::InvalidArgument);
    config.set("customized_trace_topic", "").unwrap();
    assert_eq!(config.trace_topic, "RMQ_SYS_TRACE_TOPIC");
}
