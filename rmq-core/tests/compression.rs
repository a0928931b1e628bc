//! Compression types: the broker stores the compressed body with the type in sysFlag, and the
//! official Java client decompresses it back to the original bytes.

mod support;

use rmq_core::Message;
use support::{by_msg_id, compressible_body, producer, read_topic, unique_group, unique_topic};

#[tokio::test(flavor = "multi_thread")]
async fn zlib_lz4_and_zstd_bodies_read_back_decompressed() {
    let topic = unique_topic("Compressed");
    let body = compressible_body(64 * 1024);
    let mut sent = Vec::new();
    for (kind, flag) in [("zlib", 0x301), ("lz4", 0x101), ("zstd", 0x201)] {
        let producer = producer(
            &unique_group(kind),
            &[("compress_type", kind), ("compress_threshold", "1024")],
        );
        producer.start().await.unwrap();
        let result = producer
            .send(Message::new(&topic, body.clone()))
            .await
            .unwrap();
        let small = producer.send(Message::new(&topic, "tiny")).await.unwrap();
        let batch = producer
            .send_batch(vec![Message::new(&topic, body.clone())])
            .await
            .unwrap();
        producer.shutdown().await.unwrap();
        sent.push((kind, result.msg_id, flag, body.clone()));
        sent.push((kind, small.msg_id, 0, b"tiny".to_vec()));
        // Java never compresses a batch.
        sent.push((kind, batch.msg_id, 0, body.clone()));
    }

    let stored = by_msg_id(&read_topic(&topic, sent.len()));
    for (kind, msg_id, flag, body) in &sent {
        let found = &stored[msg_id];
        assert_eq!(
            found.sys_flag & 0x701,
            *flag,
            "{kind}: sysFlag {:#x}",
            found.sys_flag
        );
        assert!(found.body == *body, "{kind}: body of {msg_id} differs");
    }
}
