//! Name servers that fail: a dead address in the list, a silent one beside the real one, every
//! name server gone while routes are cached (through a proxy this test can cut), and a hung one
//! while many cached routes are refreshed.

mod support;

use std::time::Duration;

use rmq_core::client::ClientInstance;
use rmq_core::{Message, Producer, ProducerConfig, SendStatus};
use support::fake::{FakeBroker, FakeNameServer, SilentServer};
use support::{create_topic, namesrv, read_topic, unique_group, unique_topic};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

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

/// Sends to new topics (each needs a route lookup) with a name server that accepts and never
/// answers beside the real one. Each producer is a new client instance, which knows nothing
/// of the silent one yet; producers are made until two of them asked the silent one first.
async fn sends_to_new_topics_succeed_beside_a_silent_name_server(silent_first_in_list: bool) {
    const SENDS_PER_INSTANCE: usize = 3;
    let silent = SilentServer::start().await;
    let list = if silent_first_in_list {
        format!("{};{}", silent.addr, namesrv())
    } else {
        format!("{};{}", namesrv(), silent.addr)
    };
    let mut failed_over = Vec::new();
    let mut instances_asking_silent_first = 0;
    for instance in 0..20 {
        let mut config = ProducerConfig::new(unique_group("silent_ns"));
        config.namesrv_addr = Some(list.clone());
        config.instance_name = Some(format!("silent-ns-{}-{instance}", std::process::id()));
        let producer = Producer::new(config).unwrap();
        producer.start().await.unwrap();
        for i in 0..SENDS_PER_INSTANCE {
            let topic = unique_topic("SilentNs");
            let asked_silent_before = silent.accepted();
            let begin = Instant::now();
            let result = producer.send(Message::new(&topic, "body")).await;
            let took = begin.elapsed();
            let asked_silent = silent.accepted() > asked_silent_before;
            println!(
                "instance {instance} send {i}: {took:?}, silent name server asked: {asked_silent}"
            );
            let result = result.unwrap_or_else(|e| {
                panic!("send to a new topic failed after {took:?} (silent name server asked: {asked_silent}): {e}")
            });
            assert_eq!(result.status, SendStatus::SendOk);
            if i == 0 && asked_silent {
                instances_asking_silent_first += 1;
            }
            if asked_silent {
                failed_over.push((topic, result.msg_id));
            }
        }
        producer.shutdown().await.unwrap();
        if instances_asking_silent_first == 2 {
            break;
        }
    }
    assert_eq!(
        instances_asking_silent_first, 2,
        "no client instance asked the silent name server first"
    );
    for (topic, msg_id) in failed_over {
        let copies = read_topic(&topic, 1)
            .iter()
            .filter(|stored| stored.msg_id == msg_id)
            .count();
        assert_eq!(copies, 1, "stored copies of {msg_id} in {topic}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sends_to_new_topics_succeed_with_a_silent_name_server_first_in_the_list() {
    sends_to_new_topics_succeed_beside_a_silent_name_server(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sends_to_new_topics_succeed_with_a_silent_name_server_second_in_the_list() {
    sends_to_new_topics_succeed_beside_a_silent_name_server(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn heartbeats_keep_their_interval_while_100_routes_are_refreshed_against_a_hung_name_server()
{
    let broker = FakeBroker::start().await;
    let first = FakeNameServer::start(&broker.addr).await;
    let second = FakeNameServer::start(&broker.addr).await;
    let group = unique_group("hung_ns_heartbeat");
    let mut config = ProducerConfig::new(group.clone());
    config.namesrv_addr = Some(format!("{};{}", first.addr, second.addr));
    config.instance_name = Some(format!("hung-ns-{}", std::process::id()));
    config.set("poll_namesrv_interval_ms", "1000").unwrap();
    config.set("heartbeat_interval_ms", "1000").unwrap();
    let client = ClientInstance::register(&config.client_config(), &config.group).unwrap();
    for i in 0..100 {
        let deadline = Instant::now() + Duration::from_secs(3);
        let topic = format!("HungNsTopic{i}");
        rmq_core::runtime::on_runtime({
            let client = client.clone();
            async move { client.publish_info(&topic, deadline).await }
        })
        .await
        .unwrap();
    }
    // The name server this client asks first stops answering.
    let (hung, live) = if first.lookups() > 0 {
        (&first, &second)
    } else {
        (&second, &first)
    };
    let live_lookups_before = live.lookups();
    hung.hang();
    let hung_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let end = Instant::now();

    let mut beats: Vec<Instant> = broker
        .heartbeats()
        .into_iter()
        .filter(|at| *at > hung_at)
        .collect();
    beats.insert(0, hung_at);
    beats.push(end);
    let longest_gap = beats.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    println!(
        "{} heartbeats in 6 s, longest gap {longest_gap:?}",
        beats.len() - 2
    );
    // A 1 s interval, with room for a slow machine.
    assert!(
        longest_gap < Duration::from_millis(2500),
        "no heartbeat for {longest_gap:?} while routes were refreshed against a hung name server"
    );
    assert!(
        live.lookups() - live_lookups_before >= 100,
        "the routes were not refreshed from the live name server: {} lookups",
        live.lookups() - live_lookups_before
    );
    rmq_core::runtime::on_runtime(async move {
        client.unregister(&group).await;
        Ok(())
    })
    .await
    .unwrap();
}
