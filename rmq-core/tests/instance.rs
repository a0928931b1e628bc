//! One client instance per process: shared by producers of different groups, closed by the last.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use rmq_core::{ErrorKind, Message};
use support::{
    create_topic, eventually, producer, producer_connections, unique_group, unique_topic,
};

#[tokio::test(flavor = "multi_thread")]
async fn producers_of_two_groups_share_one_instance_and_one_connection_per_broker() {
    let topic = unique_topic("Shared");
    create_topic(&topic, 2);
    let (g1, g2) = (unique_group("shared1"), unique_group("shared2"));
    let (p1, p2) = (producer(&g1, &[]), producer(&g2, &[]));
    p1.start().await.unwrap();
    p2.start().await.unwrap();
    assert_eq!(p1.client_id(), p2.client_id());
    for i in 0..8 {
        p1.send(Message::new(&topic, format!("one {i}")))
            .await
            .unwrap();
        p2.send(Message::new(&topic, format!("two {i}")))
            .await
            .unwrap();
    }
    // broker name → client addresses the broker sees for each group
    let seen = |group: &str| {
        let mut by_broker: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (broker, client_id, addr) in producer_connections(group) {
            assert_eq!(Some(client_id), p1.client_id());
            by_broker.entry(broker).or_default().insert(addr);
        }
        by_broker
    };
    let registered = eventually(10, || seen(&g1).len() == 2 && seen(&g1) == seen(&g2));
    let (s1, s2) = (seen(&g1), seen(&g2));
    assert!(
        registered,
        "groups not registered on one connection per broker: {s1:?} vs {s2:?}"
    );
    assert!(s1.values().all(|addrs| addrs.len() == 1), "{s1:?}");
    p1.shutdown().await.unwrap();
    p2.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_producer_of_the_same_group_is_refused_until_the_first_shuts_down() {
    let group = unique_group("dup");
    let first = producer(&group, &[]);
    first.start().await.unwrap();
    let second = producer(&group, &[]);
    let e = second.start().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::GroupAlreadyExists);
    assert!(e.message().contains(&group), "{e}");
    first.shutdown().await.unwrap();
    let third = producer(&group, &[]);
    third.start().await.unwrap();
    third.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn async_sends_in_flight_at_shutdown_complete_or_fail_with_shutdown_never_vanish() {
    let group = unique_group("inflight");
    let producer = producer(&group, &[("shutdown_timeout_ms", "0")]);
    producer.start().await.unwrap();
    let topic = unique_topic("InFlight");
    let sends: Vec<_> = (0..200)
        .map(|i| producer.send_async(Message::new(&topic, format!("m{i}"))))
        .collect();
    producer.shutdown().await.unwrap();
    for send in sends {
        match send.await {
            Ok(_) => {}
            Err(e) => assert!(
                matches!(e.kind(), ErrorKind::Shutdown | ErrorKind::Network),
                "unexpected {e}"
            ),
        }
    }
    assert_eq!(producer.in_flight(), 0);
}
