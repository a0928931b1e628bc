//! Request-reply against a responder built on the official Java client (`rmq-cluster
//! reply-responder`): our request carries CORRELATION_ID / REPLY_TO_CLIENT / TTL, the Java
//! consumer replies with `MessageUtil.createReplyMessage`, the broker pushes the reply to us.

mod support;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use rmq_core::{ErrorKind, Message};
use serde_json::Value;
use support::{create_topic, producer, spawn_cluster, unique_group, unique_topic};

#[tokio::test(flavor = "multi_thread")]
async fn requests_get_the_java_responders_replies() {
    let topic = unique_topic("Request");
    create_topic(&topic, 2);
    let mut responder = spawn_cluster(&["reply-responder", &topic, "--count", "3"]);
    let mut lines = BufReader::new(responder.stdout.take().unwrap()).lines();
    let ready = lines.next().expect("responder printed nothing").unwrap();
    assert!(ready.contains("ready"), "{ready}");

    let producer = producer(&unique_group("request"), &[]);
    producer.start().await.unwrap();
    let client_id = producer.client_id().unwrap();
    for i in 0..3 {
        let body = format!("ping {i}");
        let reply = producer
            .request(
                Message::new(&topic, body.clone()).with_tags("Req"),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
        assert_eq!(reply.body.as_ref(), format!("reply:{body}").as_bytes());
        assert_eq!(reply.topic, "DefaultCluster_REPLY_TOPIC");
    }

    // Nobody answers on another topic: a timeout, and nothing left waiting.
    let silent = unique_topic("Unanswered");
    let err = producer
        .request(Message::new(&silent, "hello?"), Duration::from_millis(1500))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    producer.shutdown().await.unwrap();

    let replies: Vec<Value> = lines
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert!(responder.wait().unwrap().success());
    assert_eq!(replies.len(), 3, "{replies:?}");
    for reply in &replies {
        assert_eq!(reply["status"], "SEND_OK");
        assert_eq!(reply["replyTo"], client_id.as_str());
        assert_eq!(reply["replied"].as_str().unwrap().len(), 36, "a UUID");
    }
}
