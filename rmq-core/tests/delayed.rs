//! Delay levels and 5.x timer messages: the broker keeps them in its schedule / timer topics
//! and stores them in the real topic only when due, which the store timestamps show.

mod support;

use std::time::{Duration, Instant};

use rmq_core::Message;
use support::{
    by_msg_id, cluster, create_topic, missing_on_4x, now_ms, producer, read_topic, unique_group,
    unique_topic,
};

#[tokio::test(flavor = "multi_thread")]
async fn delayed_and_timer_messages_appear_only_when_due() {
    let topic = unique_topic("Delayed");
    create_topic(&topic, 2);
    let producer = producer(&unique_group("delay"), &[]);
    producer.start().await.unwrap();

    let sent_at = Instant::now();
    let mut level1 = Message::new(&topic, "delay level 1 (1 s)");
    level1.delay_level = Some(1);
    let mut level2 = Message::new(&topic, "delay level 2 (5 s)");
    level2.delay_level = Some(2);
    let mut timer = Message::new(&topic, "timer, due in 4 s");
    timer.deliver_time_ms = Some(now_ms() + 4000);
    // A 4.x broker has no timer wheel: it stores a timer message at once (what a 4.9 user gets).
    let (timer_delay_ms, timer_precision_ms) = if missing_on_4x("timer messages (TIMER_DELIVER_MS)")
    {
        (0, 0)
    } else {
        (4000, 1000)
    };
    // (message, delay, the broker's precision: the timer wheel works in whole seconds)
    let mut cases = Vec::new();
    for (msg, delay_ms, precision_ms) in [
        (level1, 1000, 100),
        (level2, 5000, 100),
        (timer, timer_delay_ms, timer_precision_ms),
    ] {
        let result = producer.send(msg).await.unwrap();
        cases.push((result.msg_id, delay_ms, precision_ms));
    }
    producer.shutdown().await.unwrap();

    // Whatever an early read finds must already be due when the read returned.
    let early = cluster(&["read-topic", &topic]);
    let early_elapsed = sent_at.elapsed();
    for (msg_id, delay_ms, _) in &cases {
        if early_elapsed < Duration::from_millis(*delay_ms) {
            assert!(
                !early.contains(msg_id.as_str()),
                "{msg_id} (delay {delay_ms} ms) visible after only {early_elapsed:?}"
            );
        }
    }

    let stored = by_msg_id(&read_topic(&topic, cases.len()));
    for (msg_id, delay_ms, precision_ms) in &cases {
        let found = &stored[msg_id];
        assert_eq!(found.topic, topic);
        let waited = found.store_timestamp - found.born_timestamp;
        assert!(
            waited >= (delay_ms - precision_ms) as i64,
            "{msg_id}: stored {waited} ms after birth, delay {delay_ms} ms"
        );
        if *delay_ms == 0 {
            // Well below the 4 s the timer asked for, even on a starved machine.
            assert!(waited < 3000, "{msg_id}: stored {waited} ms after birth");
        }
    }
}
