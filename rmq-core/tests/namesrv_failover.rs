//! Name servers that fail: a dead address in the list, and every name server gone while routes
//! are cached. The name server is reached through a proxy this test can cut.

mod support;

use std::time::Duration;

use rmq_core::{Message, Producer, ProducerConfig, SendStatus};
use support::{create_topic, namesrv, unique_group, unique_topic};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy to `upstream`; dropping it (or `cut`) closes every proxied connection.
struct Proxy {
    addr: String,
    accept: JoinHandle<()>,
    links: std::sync::Arc<parking_lot::Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let links = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let tracked = links.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                tracked.lock().push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Proxy {
            addr,
            accept,
            links,
        }
    }

    fn cut(&self) {
        self.accept.abort();
        for link in self.links.lock().drain(..) {
            link.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sends_go_on_from_cached_routes_while_every_name_server_is_down() {
    let topic = unique_topic("NoNamesrv");
    create_topic(&topic, 2);
    let proxy = Proxy::start(namesrv()).await;
    let mut config = ProducerConfig::new(unique_group("failover"));
    // A dead address first in the list: lookups fail over to the next one.
    config.namesrv_addr = Some(format!("127.0.0.1:1;{}", proxy.addr));
    config.set("poll_namesrv_interval_ms", "500").unwrap();
    let producer = Producer::new(config).unwrap();
    producer.start().await.unwrap();
    for i in 0..10 {
        let r = producer
            .send(Message::new(&topic, format!("before {i}")))
            .await
            .unwrap();
        assert_eq!(r.status, SendStatus::SendOk);
    }

    proxy.cut();
    // Let several periodic refreshes fail.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in 0..20 {
        let r = producer
            .send(Message::new(&topic, format!("after {i}")))
            .await
            .unwrap_or_else(|e| panic!("send with cached routes failed: {e}"));
        assert_eq!(r.status, SendStatus::SendOk);
    }
    producer.shutdown().await.unwrap();
}
