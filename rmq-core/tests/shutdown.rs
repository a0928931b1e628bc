//! Shutdown, in a test binary of its own so that no other producer shares the client instance.

mod support;

use rmq_core::Message;
use support::{
    create_topic, eventually, producer, producer_connections, unique_group, unique_topic,
};

/// TCP sockets this process has open.
fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_unregisters_from_the_brokers_and_closes_every_socket() {
    let topic = unique_topic("Shutdown");
    create_topic(&topic, 2);
    let group = unique_group("shutdown");
    let before = open_sockets();
    let producer = producer(&group, &[]);
    producer.start().await.unwrap();
    for i in 0..8 {
        producer
            .send(Message::new(&topic, format!("m{i}")))
            .await
            .unwrap();
    }
    assert!(
        eventually(10, || producer_connections(&group).len() == 2),
        "both brokers should know the producer: {:?}",
        producer_connections(&group)
    );
    assert!(open_sockets() > before);

    producer.shutdown().await.unwrap();
    assert!(
        eventually(5, || producer_connections(&group).is_empty()),
        "brokers still list the producer after shutdown: {:?}",
        producer_connections(&group)
    );
    assert!(
        eventually(5, || open_sockets() == before),
        "sockets left open: {} > {before}",
        open_sockets()
    );
}
