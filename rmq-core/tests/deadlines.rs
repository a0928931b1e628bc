//! No wait outlives the caller's deadline: a send with 500 ms left must not queue behind another
//! send's connect or route lookup, and a request must not heartbeat past its own deadline. The
//! faults (an address where connects hang, a name server that never answers) are in-process
//! fakes: a real broker cannot be made to show them on demand.

mod support;

use std::time::Duration;

use rmq_core::{ErrorKind, Message, Producer, ProducerConfig};
use support::fake::{BlackHole, FakeNameServer, SilentServer, SlowBroker};
use support::{BrokerAddrs, Starvation, unique_group};
use tokio::time::Instant;

/// Far below the 3 s the old code waited, far above a 500 ms deadline; the measured starvation of
/// the machine is added to it.
const MARGIN: Duration = Duration::from_millis(1500);

/// A started producer of client instance `instance` with `send_timeout_ms`.
async fn producer(namesrv: &str, instance: &str, send_timeout_ms: &str) -> Producer {
    let mut config = ProducerConfig::new(unique_group("deadline"));
    config.namesrv_addr = Some(namesrv.to_string());
    config.instance_name = Some(instance.to_string());
    config.set("send_timeout_ms", send_timeout_ms).unwrap();
    let producer = Producer::new(config).unwrap();
    producer.start().await.unwrap();
    producer
}

fn instance_name(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), fastrand::u32(..))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_send_with_500_ms_left_does_not_wait_for_another_sends_connect() {
    let hole = BlackHole::start().await;
    let namesrv = FakeNameServer::start(&hole.addr).await;
    let instance = instance_name("connect");
    // Two producers of one client instance: they share the connection to the broker.
    let patient = producer(&namesrv.addr, &instance, "3000").await;
    let hurried = producer(&namesrv.addr, &instance, "500").await;

    let first = tokio::spawn(async move {
        let result = patient.send(Message::new("DeadlineTopic", "first")).await;
        let _ = patient.shutdown().await;
        result
    });
    // The first send is connecting to the black hole now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let starvation = Starvation::measure();
    let begin = Instant::now();
    let e = hurried
        .send(Message::new("DeadlineTopic", "second"))
        .await
        .unwrap_err();
    let waited = begin.elapsed();
    let starved = starvation.total().await;
    assert!(
        matches!(e.kind(), ErrorKind::Connect | ErrorKind::Timeout),
        "{e}"
    );
    assert!(
        waited < MARGIN + starved,
        "a send with 500 ms left waited {waited:?} (timers {starved:?} late) for another send's connect: {e}"
    );
    assert!(first.await.unwrap().is_err());
    hurried.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_that_never_accepts_the_connect_leaves_the_send_time_to_retry_on_another() {
    let hole = BlackHole::start().await;
    let alive = SlowBroker::start(Duration::ZERO).await;
    let namesrv =
        FakeNameServer::start_with(&[("hole", hole.addr.as_str()), ("alive", alive.addr.as_str())])
            .await;
    let mut config = ProducerConfig::new(unique_group("deadline"));
    config.namesrv_addr = Some(namesrv.addr.clone());
    config.instance_name = Some(instance_name("connect-retry"));
    let producer = Producer::new(config).unwrap();
    let attempts = std::sync::Arc::new(BrokerAddrs::default());
    producer.add_send_hook(attempts.clone());
    producer.start().await.unwrap();
    // Queues go round both brokers: within 8 sends one starts on the black hole.
    for i in 0..8 {
        let result = producer
            .send(Message::new("ConnectRetryTopic", format!("send {i}")))
            .await
            .unwrap_or_else(|e| panic!("send {i} failed within its 3 s budget: {e}"));
        assert_eq!(result.queue.broker_name, "alive");
    }
    assert!(attempts.not_stored() >= 1, "no send tried the black hole");
    producer.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_send_with_500_ms_left_does_not_wait_for_another_sends_route_lookup() {
    let namesrv = SilentServer::start().await;
    let instance = instance_name("lookup");
    let patient = producer(&namesrv.addr, &instance, "3000").await;
    let hurried = producer(&namesrv.addr, &instance, "500").await;

    let first = tokio::spawn(async move {
        let result = patient.send(Message::new("LookupTopic", "first")).await;
        let _ = patient.shutdown().await;
        result
    });
    // The first send is waiting for the name server now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let starvation = Starvation::measure();
    let begin = Instant::now();
    let e = hurried
        .send(Message::new("LookupTopic", "second"))
        .await
        .unwrap_err();
    let waited = begin.elapsed();
    let starved = starvation.total().await;
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(
        waited < MARGIN + starved,
        "a send with 500 ms left waited {waited:?} (timers {starved:?} late) for another send's route lookup: {e}"
    );
    assert!(first.await.unwrap().is_err());
    hurried.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_heartbeats_the_route_masters_only_until_its_deadline() {
    let hole = BlackHole::start().await;
    let namesrv = FakeNameServer::start(&hole.addr).await;
    // The send inside the request has 300 ms; the request itself 500 ms.
    let requester = producer(&namesrv.addr, &instance_name("request"), "300").await;
    let starvation = Starvation::measure();
    let begin = Instant::now();
    let e = requester
        .request(
            Message::new("RequestTopic", "ping"),
            Duration::from_millis(500),
        )
        .await
        .unwrap_err();
    let waited = begin.elapsed();
    let starved = starvation.total().await;
    // Heartbeat (≤ 500 ms) + send (≤ 300 ms), with room for a slow machine.
    assert!(
        waited < Duration::from_millis(2000) + starved,
        "a request with 500 ms waited {waited:?} (timers {starved:?} late): {e}"
    );
    requester.shutdown().await.unwrap();
}
