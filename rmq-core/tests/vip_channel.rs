//! The VIP channel: with `vip_channel_enabled` every send goes to the broker's fast remoting
//! port (listen port − 2), and the messages arrive all the same.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use rmq_core::Message;
use serde_json::Value;
use support::{
    BrokerAddrs, by_msg_id, cluster, create_topic, producer, read_topic, unique_group, unique_topic,
};

fn port(addr: &str) -> u16 {
    addr.rsplit_once(':').unwrap().1.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sends_go_to_the_vip_port() {
    let topic = unique_topic("Vip");
    create_topic(&topic, 2);
    let route: Value = serde_json::from_str(cluster(&["route", &topic]).trim()).unwrap();
    let listen_ports: BTreeSet<u16> = route["brokerDatas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| port(b["brokerAddrs"]["0"].as_str().unwrap()))
        .collect();

    let producer = producer(&unique_group("vip"), &[("vip_channel_enabled", "true")]);
    let addrs = Arc::new(BrokerAddrs::default());
    producer.add_send_hook(addrs.clone());
    producer.start().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            producer
                .send(Message::new(&topic, format!("vip {i}")))
                .await
                .unwrap()
                .msg_id,
        );
    }
    producer.shutdown().await.unwrap();

    assert_eq!(addrs.not_stored(), 0, "every send stored at once");
    let used: BTreeSet<u16> = addrs.stored_at().iter().map(|a| port(a)).collect();
    let vip: BTreeSet<u16> = listen_ports.iter().map(|p| p - 2).collect();
    assert_eq!(used, vip, "listen ports {listen_ports:?}");
    let stored = by_msg_id(&read_topic(&topic, ids.len()));
    assert!(ids.iter().all(|id| stored.contains_key(id)));
}
