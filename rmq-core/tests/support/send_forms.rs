//! Every send form of the producer (and of the transaction producer), run once each against
//! one topic, for the tests where all of them must fail the same way at once: a route with no
//! writable queue (drained brokers, no master up).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rmq_core::producer::{LocalTransactionState, QueueSelection, TransactionProducer};
use rmq_core::{Error, ErrorKind, Message, MessageQueue, ProducerConfig, RoomWait};

use super::{producer_on, unique_group, unique_topic};

/// A send budget far above "at once", so that a form that burns it is caught.
const SEND_TIMEOUT_MS: &str = "10000";
const AT_ONCE: Duration = Duration::from_secs(5);

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

/// Runs every send form once on `topic` (and a plain send on a topic the NameServer does not
/// know) with fresh producers on `namesrv`, and asserts that each fails at once with `NoRoute`
/// naming its topic and the missing writable queue, each callback called exactly once, and no
/// local transaction run. A panic in a send would surface as `Internal`, never as `NoRoute`.
pub async fn assert_every_form_fails_at_once_with_no_route(namesrv: &str, topic: &str) {
    let producer = producer_on(
        namesrv,
        &unique_group("no_route"),
        &[("send_timeout_ms", SEND_TIMEOUT_MS)],
    );
    producer.start().await.unwrap();
    let queue = MessageQueue {
        topic: topic.to_string(),
        broker_name: "broker-a".into(),
        queue_id: 0,
    };
    let mut tx_config = ProducerConfig::new(unique_group("no_route_tx"));
    tx_config.namesrv_addr = Some(namesrv.to_string());
    tx_config.set("send_timeout_ms", SEND_TIMEOUT_MS).unwrap();
    let local_calls = Arc::new(AtomicUsize::new(0));
    let tx_producer =
        TransactionProducer::new(tx_config, |_| LocalTransactionState::Commit).unwrap();
    tx_producer.start().await.unwrap();

    let msg = || Message::new(topic, "to a route with no writable queue");
    let mut outcomes: Vec<(&str, Result<(), Error>, Duration)> = Vec::new();
    macro_rules! form {
        ($name:expr, $call:expr) => {{
            let begin = Instant::now();
            let result = $call;
            outcomes.push(($name, result, begin.elapsed()));
        }};
    }
    // A callback form: its time is until the callback was called, which must be once.
    let mut wrong = Vec::new();
    macro_rules! callback_form {
        ($name:expr, $call:expr) => {{
            let (calls, last) = $call;
            if calls != 1 {
                wrong.push(format!("{}: callback called {calls} time(s)", $name));
            }
            if let Some((result, took)) = last {
                outcomes.push(($name, result, took));
            }
        }};
    }
    form!("send", producer.send(msg()).await.map(drop));
    form!("send_async", producer.send_async(msg()).await.map(drop));
    callback_form!("try_send_with_callback", {
        let calls = Calls::new();
        producer
            .try_send_with_callback(msg(), RoomWait::InTask, calls.callback())
            .unwrap();
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
    callback_form!("try_send_to_with_callback", {
        let calls = Calls::new();
        producer
            .try_send_to_with_callback(
                msg(),
                QueueSelection::Queue(queue.clone()),
                RoomWait::InTask,
                calls.callback(),
            )
            .unwrap();
        calls.result().await
    });
    form!(
        "send_batch",
        producer.send_batch(batch(topic)).await.map(drop)
    );
    form!(
        "send_batch_to_queue",
        producer
            .send_batch_to_queue(batch(topic), queue.clone())
            .await
            .map(drop)
    );
    form!(
        "send_batch_async",
        producer.send_batch_async(batch(topic)).await.map(drop)
    );
    callback_form!("try_send_batch_with_callback", {
        let calls = Calls::new();
        producer
            .try_send_batch_with_callback(batch(topic), RoomWait::InTask, calls.callback())
            .unwrap();
        calls.result().await
    });
    form!(
        "publish_queues",
        producer.publish_queues(topic).await.map(drop)
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
    // A topic the NameServer does not know: its route would come from TBW102's brokers.
    let new_topic = unique_topic("NoRouteNew");
    form!(
        "send (new topic)",
        producer.send(Message::new(&new_topic, "x")).await.map(drop)
    );

    assert_eq!(producer.in_flight(), 0);
    producer.shutdown().await.unwrap();
    tx_producer.shutdown().await.unwrap();

    for (form, result, took) in &outcomes {
        println!("{form:26} {took:>10.1?} {result:?}");
        let named = if *form == "send (new topic)" {
            new_topic.as_str()
        } else {
            topic
        };
        match result {
            Err(e)
                if e.kind() == ErrorKind::NoRoute
                    && e.message().contains(named)
                    && e.message().contains("writable")
                    && *took < AT_ONCE => {}
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
