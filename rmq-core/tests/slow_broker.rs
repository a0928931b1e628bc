//! A broker that is slow but alive: it answers each send after 1.5 s, inside the 3 s budget (a
//! SYNC_MASTER waiting for its slave, a SYNC_FLUSH broker, a GC pause), and answers heartbeats at
//! once. A real broker cannot be made this slow on demand, so this one is an in-process fake,
//! behind a fake name server whose route names only it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rmq_core::{Message, Producer, ProducerConfig, SendStatus};
use support::fake::{FakeNameServer, SlowBroker};
use support::{SendAttempts, Starvation};
use tokio::time::Instant;

const SEND_DELAY: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_broker_gets_one_copy_and_the_caller_its_answer_as_soon_as_it_comes() {
    let broker = SlowBroker::start(SEND_DELAY).await;
    let namesrv = FakeNameServer::start(&broker.addr).await;
    let mut config = ProducerConfig::new("SlowBrokerGroup");
    config.namesrv_addr = Some(namesrv.addr.clone());
    config.set("vip_channel_enabled", "false").unwrap();
    // The defaults that matter, spelled out: 3 attempts within 3 s.
    config.set("send_timeout_ms", "3000").unwrap();
    config.set("retry_times", "2").unwrap();
    let producer = Producer::new(config).unwrap();
    let attempts = Arc::new(SendAttempts::default());
    producer.add_send_hook(attempts.clone());
    producer.start().await.unwrap();

    // The first send opens the connection, whose first heartbeat is answered during the send;
    // the ones after it meet a connection where nothing else is going on, as in steady state.
    let mut sent = Vec::new();
    for i in 0..3 {
        let starvation = Starvation::measure();
        let begin = Instant::now();
        let result = producer
            .send(Message::new("SlowTopic", format!("stored once {i}")))
            .await;
        let waited = begin.elapsed();
        let starved = starvation.total().await;
        // How late the test's own timers were tells a stalled machine from a stalled client.
        let result = result.unwrap_or_else(|e| panic!("send {i}: {e} (timers {starved:?} late)"));
        sent.push((result, waited, starved));
    }
    // Late answers to abandoned attempts would come in after the first one.
    tokio::time::sleep(SEND_DELAY + Duration::from_millis(500)).await;
    producer.shutdown().await.unwrap();

    let counted: Vec<_> = sent
        .into_iter()
        .map(|(result, waited, starved)| {
            let copies = broker.copies_of(&result.msg_id);
            let tries = attempts.of(&result.msg_id);
            println!(
                "broker answering sends after {} ms: {copies} copy(ies) received, {tries} attempt(s), SEND_OK after {} ms (timers {} ms late)",
                SEND_DELAY.as_millis(),
                waited.as_millis(),
                starved.as_millis()
            );
            (result, waited, starved, copies, tries)
        })
        .collect();
    for (result, waited, starved, copies, tries) in counted {
        assert_eq!(result.status, SendStatus::SendOk);
        assert_eq!(
            copies, 1,
            "the slow broker received {} {copies} times",
            result.msg_id
        );
        assert_eq!(tries, 1);
        // The answer comes at 1.5 s; 1 s of margin (plus the measured starvation) for a slow
        // test machine, still short of the 2.5 s a second attempt on the same broker would take.
        assert!(
            waited >= SEND_DELAY && waited < Duration::from_millis(2500) + starved,
            "SEND_OK after {waited:?} (timers {starved:?} late)"
        );
    }
}
