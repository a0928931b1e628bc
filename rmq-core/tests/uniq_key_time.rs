//! The time inside a UNIQ_KEY counts from the local start of the month, as the Java client's:
//! Java reads it back (`MessageClientIDSetter.getNearlyTimeFromID`) in its own time zone, and
//! the 4.9.x tools search the index only from that time on. In a zone behind UTC, a count from
//! the UTC month start reads as hours in the future, and those tools find nothing.

mod support;

use std::process::Command;

use rmq_core::Message;
use support::{create_topic, namesrv, now_ms, unique_group, unique_topic};

/// Set in the child process: the topic to send one message to.
const CHILD_TOPIC: &str = "RMQ_UNIQ_KEY_TIME_TOPIC";
/// Behind UTC all year (UTC-5 / UTC-4).
const ZONE: &str = "America/New_York";

#[test]
fn java_reads_the_send_time_from_the_id_in_a_zone_behind_utc() {
    if let Ok(topic) = std::env::var(CHILD_TOPIC) {
        send_one_and_print_its_id(&topic);
        return;
    }
    let topic = unique_topic("UniqKeyTime");
    create_topic(&topic, 2);
    // The producer runs in a child process, so that its local time zone is ZONE.
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "java_reads_the_send_time_from_the_id_in_a_zone_behind_utc",
            "--nocapture",
        ])
        .env(CHILD_TOPIC, &topic)
        .env("NAMESRV_ADDR", namesrv())
        .env("TZ", ZONE)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(child.status.success(), "child failed: {stdout}");
    let msg_id = stdout
        .lines()
        .find_map(|line| line.strip_prefix("MSG_ID="))
        .unwrap_or_else(|| panic!("no MSG_ID in the child's output: {stdout}"))
        .to_string();

    let sent_at = now_ms();
    let read = Command::new(support::launcher())
        .args(["id-time", &msg_id])
        .env("TZ", ZONE)
        .output()
        .unwrap();
    let read = String::from_utf8_lossy(&read.stdout);
    let java_time: i64 = read
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("id-time: {read}"));
    // The child sent the message less than a minute ago.
    let skew = (sent_at - java_time).abs();
    assert!(
        skew < 60_000,
        "Java in {ZONE} reads {msg_id} as {java_time}, {skew} ms away from the send at about {sent_at}"
    );
}

fn send_one_and_print_its_id(topic: &str) {
    let producer = support::producer(&unique_group("uniqtime"), &[]);
    let topic = topic.to_string();
    let msg_id = rmq_core::runtime::block_on(async move {
        producer.start().await?;
        let result = producer.send(Message::new(&topic, "what time is it")).await;
        producer.shutdown().await?;
        result.map(|r| r.msg_id)
    })
    .unwrap()
    .unwrap();
    println!("MSG_ID={msg_id}");
}
