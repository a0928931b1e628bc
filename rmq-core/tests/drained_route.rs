//! Both brokers drained (`brokerPermission=4`, read only, as operators do before maintenance):
//! the route has no writable queue, and every send form fails at once with `NoRoute` naming the
//! topic, each callback exactly once, nothing panics (a panic would surface as `Internal`).
//!
//! When the brokers are writable again, sends resume within seconds, not at the next route poll.
//!
//! This changes the whole cluster, so it is the only test of its binary (cargo runs test
//! binaries one at a time) and it restores `brokerPermission=6` however it ends.

mod support;

use std::time::{Duration, Instant};

use rmq_core::{ErrorKind, Message};
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

#[tokio::test(flavor = "multi_thread")]
async fn every_send_form_fails_at_once_with_no_route_when_no_queue_is_writable() {
    let topic = unique_topic("Drained");
    create_topic(&topic, 4);
    let drained = Drained::new(&topic);
    support::send_forms::assert_every_form_fails_at_once_with_no_route(&namesrv(), &topic).await;

    // A producer that polls routes only every 10 minutes has the drained route cached...
    let producer = producer(
        &unique_group("undrained"),
        &[("poll_namesrv_interval_ms", "600000")],
    );
    producer.start().await.unwrap();
    let e = producer
        .send(Message::new(&topic, "drained"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoRoute, "{e}");
    // ...and sends again within seconds of the brokers' becoming writable (as Java, a route
    // without a writable queue is asked for again on each send).
    drop(drained);
    let undrained = Instant::now();
    let mut last = None;
    while undrained.elapsed() < Duration::from_secs(20) {
        match producer.send(Message::new(&topic, "undrained")).await {
            Ok(_) => {
                println!(
                    "sends resumed {:?} after the route was writable again",
                    undrained.elapsed()
                );
                last = None;
                break;
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        last.is_none(),
        "still failing 20 s after the brokers were writable again: {last:?}"
    );
    producer.shutdown().await.unwrap();
}
