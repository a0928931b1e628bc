//! Sends 1000 messages "Hello RocketMQ i" with tag TagA to TopicTest and prints each result.
//!
//! `NAMESRV_ADDR=127.0.0.1:9876 cargo run -p rmq-core --example quickstart`

use rmq_core::{Message, Producer, ProducerConfig};

#[tokio::main]
async fn main() -> Result<(), rmq_core::Error> {
    // The name servers come from NAMESRV_ADDR, or `config.set("namesrv_addr", "host:port")`.
    let producer = Producer::new(ProducerConfig::new("please_rename_unique_group_name"))?;
    producer.start().await?;
    let mut failed = 0;
    for i in 0..1000 {
        let msg = Message::new("TopicTest", format!("Hello RocketMQ {i}")).with_tags("TagA");
        match producer.send(msg).await {
            Ok(result) => println!("{result:?}"),
            Err(error) => {
                failed += 1;
                println!("send {i} failed: {error}");
            }
        }
    }
    producer.shutdown().await?;
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
