//! How long a send to a new topic takes with a hung name server in the list (a measurement, not
//! a test): a local listener that accepts and never answers, beside NAMESRV_ADDR.
//!
//! `cargo run -p rmq-core --example hung_namesrv -- [first|second] [ROUNDS]`: the hung name
//! server first or second in the list. Each round is a new client instance (it knows nothing
//! of the hung one) sending to two new topics.

use std::time::Instant;

use rmq_core::{Message, Producer, ProducerConfig};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let hung_first = args.get(1).is_none_or(|a| a != "second");
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(6);
    let live = std::env::var("NAMESRV_ADDR").expect("set NAMESRV_ADDR");

    let hung = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung_addr = hung.local_addr().unwrap().to_string();
    let (accepted_tx, accepted) = tokio::sync::watch::channel(0usize);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hung.accept().await {
            held.push(socket);
            accepted_tx.send_replace(held.len());
        }
    });
    let list = if hung_first {
        format!("{hung_addr};{live}")
    } else {
        format!("{live};{hung_addr}")
    };
    println!("name servers {list}");
    for round in 0..rounds {
        let mut config = ProducerConfig::new(format!("hung_ns_{}_{round}", std::process::id()));
        config.namesrv_addr = Some(list.clone());
        config.instance_name = Some(format!("hung-ns-{}-{round}", std::process::id()));
        let producer = Producer::new(config).unwrap();
        producer.start().await.unwrap();
        for send in 0..2 {
            let topic = format!("HungNs_{}_{round}_{send}", std::process::id());
            let asked_before = *accepted.borrow();
            let begin = Instant::now();
            let result = producer.send(Message::new(&topic, "body")).await;
            let took = begin.elapsed();
            let asked_hung = *accepted.borrow() > asked_before;
            match result {
                Ok(r) => println!(
                    "round {round} send {send}: {took:?} {} (hung name server asked: {asked_hung})",
                    r.status.name()
                ),
                Err(e) => {
                    println!(
                        "round {round} send {send}: {took:?} {e} (hung name server asked: {asked_hung})"
                    )
                }
            }
        }
        producer.shutdown().await.unwrap();
    }
}
