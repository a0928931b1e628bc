//! The producer on master/slave groups (RocketMQ 5.3.3, SYNC_MASTER: each master acknowledges a
//! send once its slave has it): `up --topology master-slave` on a port base of its own. Run by
//! tests/deployments.sh (`make test-deployments`, part of `make test`), one test at a time.

mod support;

use rmq_core::Message;
use support::{Deployment, unique_group, unique_topic};

const PORT_BASE: u32 = 22876;

fn master_slave() -> &'static Deployment {
    support::deployment(PORT_BASE, &["--topology", "master-slave"])
}

/// The store host ("ip:port") written into an offset message id (16 hex digits of IPv4 + port first).
fn store_host(offset_msg_id: &str) -> String {
    let raw = u64::from_str_radix(&offset_msg_id[..16], 16).expect("hex offset message id");
    let ip = std::net::Ipv4Addr::from((raw >> 32) as u32);
    format!("{ip}:{}", raw as u32)
}

#[tokio::test]
#[ignore = "needs the master-slave deployment: tests/deployments.sh"]
async fn sends_go_to_the_masters_only_and_are_stored_on_them() {
    let cluster = master_slave();
    let topic = unique_topic("MsMasters");
    cluster.create_topic(&topic, 4);
    let producer = cluster.producer(&unique_group("ms_masters"), &[]);
    producer.start().await.unwrap();
    let masters: Vec<String> =
        serde_json::from_str::<serde_json::Value>(cluster.cli(&["route", &topic]).trim()).unwrap()
            ["brokerDatas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["brokerAddrs"]["0"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(
        masters.len(),
        2,
        "two groups with a master each: {masters:?}"
    );
    let mut sent = Vec::new();
    for i in 0..40 {
        let result = producer
            .send(Message::new(&topic, format!("ms-{i}")))
            .await
            .unwrap();
        assert!(
            masters.contains(&store_host(&result.offset_msg_id)),
            "message {i} stored by {} (masters: {masters:?})",
            store_host(&result.offset_msg_id)
        );
        sent.push(result.msg_id);
    }
    producer.shutdown().await.unwrap();
    let stored = cluster.read_topic(&topic, sent.len());
    let mut ids: Vec<String> = stored.iter().map(|s| s.msg_id.clone()).collect();
    ids.sort();
    sent.sort();
    assert_eq!(ids, sent, "every acknowledged message stored once");
}
