//! Both brokers drained (`brokerPermission=4`, read only, as operators do before maintenance):
//! the route has no writable queue, and every send form fails at once with `NoRoute` naming the
//! topic, each callback exactly once, nothing panics (a panic would surface as `Internal`).
//!
//! This changes the whole cluster, so it is the only test of its binary (cargo runs test
//! binaries one at a time) and it restores `brokerPermission=6` however it ends.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rmq_core::producer::{LocalTransactionState, QueueSelection, TransactionProducer};
use rmq_core::{Error, ErrorKind, Message, MessageQueue, ProducerConfig};
use serde_json::Value;
use support::{cluster, create_topic, eventually, namesrv, producer, unique_group, unique_topic};

/// The NameServer's route of `topic`.
fn route(topic: &str) -> Value {
    serde_json::from_str(cluster(&["route", topic]).trim()).unwrap()
}

/// The perm of every queue entry of `topic`'s route.
fn route_perms(topic: &str) -> Vec<i64> {
    route(topic)["queueDatas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["perm"].as_i64().unwrap())
        .collect()
}

/// Sets `brokerPermission` on every broker master and waits until the NameServer's route of
/// `topic` shows it (the broker registers again at once).
fn set_broker_permission(masters: &[String], topic: &str, perm: i64) {
    for addr in masters {
        let perm = perm.to_string();
        cluster(&[
            "admin",
            "updateBrokerConfig",
            "-b",
            addr,
            "-k",
            "brokerPermission",
            "-v",
            &perm,
        ]);
    }
    assert!(
        eventually(60, || route_perms(topic).iter().all(|p| p & 6 == perm)),
        "the route of {topic} never showed brokerPermission {perm}: {:?}",
        route_perms(topic)
    );
}

/// Both brokers read only while it lives; writable again when dropped, also on a failure.
struct Drained {
    masters: Vec<String>,
    topic: String,
}

impl Drained {
    fn new(topic: &str) -> Drained {
        let masters = route(topic)["brokerDatas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["brokerAddrs"]["0"].as_str().unwrap().to_string())
            .collect::<Vec<_>>();
        assert_eq!(masters.len(), 2, "the test cluster has two masters");
        let drained = Drained {
            masters,
            topic: topic.to_string(),
        };
        set_broker_permission(&drained.masters, topic, 4);
        drained
    }
}

impl Drop for Drained {
    fn drop(&mut self) {
        set_broker_permission(&self.masters, &self.topic, 6);
    }
}

/// Counts the calls of a send callback and keeps the last result and when it came.
struct Calls {
    begin: Instant,
    count: AtomicUsize,
    last: Mutex<Option<(Result<(), Error>, Duration)>>,
}

impl Calls {
    fn callback<T: Send + 'static>(
        self: &Arc<Self>,
    ) -> impl FnOnce(Result<T, Error>) + Send + use<T> {
        let calls = self.clone();
        move |result| {
            calls.count.fetch_add(1, Ordering::SeqCst);
            *calls.last.lock() = Some((result.map(|_| ()), calls.begin.elapsed()));
        }
    }

    fn new() -> Arc<Calls> {
        Arc::new(Calls {
            begin: Instant::now(),
            count: AtomicUsize::new(0),
            last: Mutex::new(None),
        })
    }

    /// The calls (waiting up to 5 s for the first), the last result and when it came.
    async fn result(&self) -> (usize, Option<(Result<(), Error>, Duration)>) {
        for _ in 0..200 {
            if self.count.load(Ordering::SeqCst) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        // Time for a second call, if there were one.
        tokio::time::sleep(Duration::from_millis(100)).await;
        (self.count.load(Ordering::SeqCst), self.last.lock().take())
    }
}

fn batch(topic: &str) -> Vec<Message> {
    (0..3)
        .map(|i| Message::new(topic, format!("batch {i}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_send_form_fails_at_once_with_no_route_when_no_queue_is_writable() {
    let topic = unique_topic("Drained");
    create_topic(&topic, 4);
    let _drained = Drained::new(&topic);

    let producer = producer(&unique_group("drained"), &[("send_timeout_ms", "10000")]);
    producer.start().await.unwrap();
    let queue = MessageQueue {
        topic: topic.clone(),
        broker_name: "broker-a".into(),
        queue_id: 0,
    };
    let mut tx_config = ProducerConfig::new(unique_group("drained_tx"));
    tx_config.namesrv_addr = Some(namesrv());
    tx_config.set("send_timeout_ms", "10000").unwrap();
    let local_calls = Arc::new(AtomicUsize::new(0));
    let tx_producer =
        TransactionProducer::new(tx_config, |_| LocalTransactionState::Commit).unwrap();
    tx_producer.start().await.unwrap();

    let msg = || Message::new(&topic, "to a drained route");
    let mut outcomes: Vec<(&str, Result<(), Error>, Duration)> = Vec::new();
    macro_rules! form {
        ($name:expr, $call:expr) => {{
            let begin = Instant::now();
            let result = $call;
            outcomes.push(($name, result, begin.elapsed()));
        }};
    }
    // A callback form: its time is until the callback was called, which must be once.
    let mut wrong_calls = Vec::new();
    macro_rules! callback_form {
        ($name:expr, $call:expr) => {{
            let (calls, last) = $call;
            if calls != 1 {
                wrong_calls.push(format!("{}: callback called {calls} time(s)", $name));
            }
            if let Some((result, took)) = last {
                outcomes.push(($name, result, took));
            }
        }};
    }
    form!("send", producer.send(msg()).await.map(drop));
    form!("send_async", producer.send_async(msg()).await.map(drop));
    callback_form!("send_with_callback", {
        let calls = Calls::new();
        producer.send_with_callback(msg(), calls.callback());
        calls.result().await
    });
    form!("send_oneway", producer.send_oneway(msg()).await);
    form!(
        "send_to_queue",
        producer.send_to_queue(msg(), queue.clone()).await.map(drop)
    );
    form!(
        "send_with_selector",
        producer
            .send_with_selector(msg(), |queues, _| queues.len() - 1)
            .await
            .map(drop)
    );
    form!(
        "send_with_sharding_key",
        producer
            .send_with_sharding_key(msg(), "order-1")
            .await
            .map(drop)
    );
    form!(
        "send_to_async",
        producer
            .send_to_async(msg(), QueueSelection::ShardingKey("order-1".into()))
            .await
            .map(drop)
    );
    callback_form!("send_to_with_callback", {
        let calls = Calls::new();
        producer.send_to_with_callback(
            msg(),
            QueueSelection::Queue(queue.clone()),
            calls.callback(),
        );
        calls.result().await
    });
    form!(
        "send_batch",
        producer.send_batch(batch(&topic)).await.map(drop)
    );
    form!(
        "send_batch_to_queue",
        producer
            .send_batch_to_queue(batch(&topic), queue.clone())
            .await
            .map(drop)
    );
    form!(
        "send_batch_async",
        producer.send_batch_async(batch(&topic)).await.map(drop)
    );
    callback_form!("send_batch_with_callback", {
        let calls = Calls::new();
        producer.send_batch_with_callback(batch(&topic), calls.callback());
        calls.result().await
    });
    form!(
        "publish_queues",
        producer.publish_queues(&topic).await.map(drop)
    );
    form!(
        "request",
        producer
            .request(msg(), Duration::from_secs(10))
            .await
            .map(drop)
    );
    form!("send_in_transaction", {
        let local = local_calls.clone();
        tx_producer
            .send_in_transaction(msg(), move |_, _| {
                local.fetch_add(1, Ordering::SeqCst);
                LocalTransactionState::Commit
            })
            .await
            .map(drop)
    });
    form!("send_in_transaction_async", {
        let local = local_calls.clone();
        tx_producer
            .send_in_transaction_async(msg(), move |_, _| async move {
                local.fetch_add(1, Ordering::SeqCst);
                LocalTransactionState::Commit
            })
            .await
            .map(drop)
    });
    // A topic the NameServer does not know: its route would come from the (drained) TBW102.
    let new_topic = unique_topic("DrainedNew");
    form!(
        "send (new topic)",
        producer.send(Message::new(&new_topic, "x")).await.map(drop)
    );

    assert_eq!(producer.in_flight(), 0);
    producer.shutdown().await.unwrap();
    tx_producer.shutdown().await.unwrap();

    let mut wrong = wrong_calls.clone();
    for (form, result, took) in &outcomes {
        eprintln!("{form:26} {took:>10.1?} {result:?}");
        let named = if *form == "send (new topic)" {
            &new_topic
        } else {
            &topic
        };
        match result {
            Err(e)
                if e.kind() == ErrorKind::NoRoute
                    && e.message().contains(named.as_str())
                    && e.message().contains("writable")
                    // At once: nowhere near the 10 s send timeout.
                    && *took < Duration::from_secs(5) => {}
            _ => wrong.push(format!("{form}: {result:?} after {took:?}")),
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(
        local_calls.load(Ordering::SeqCst),
        0,
        "a local transaction ran"
    );
}
