//! Both brokers drained (`brokerPermission=4`, read only, as operators do before maintenance):
//! the route has no writable queue, and every send form fails at once with `NoRoute` naming the
//! topic, each callback exactly once, nothing panics (a panic would surface as `Internal`).
//!
//! This changes the whole cluster, so it is the only test of its binary (cargo runs test
//! binaries one at a time) and it restores `brokerPermission=6` however it ends.

mod support;

use serde_json::Value;
use support::{cluster, create_topic, eventually, namesrv, unique_topic};

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
    let _drained = Drained::new(&topic);
    support::send_forms::assert_every_form_fails_at_once_with_no_route(&namesrv(), &topic).await;
}
