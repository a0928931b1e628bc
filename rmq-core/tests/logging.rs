//! `rmq_core::logging`, the bridge the C, Node and Python bindings forward the library's events
//! through. Its own test binary: it installs the process's global subscriber.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use rmq_core::logging::{self, LogRecord};
use rmq_core::{Message, Producer, ProducerConfig};
use tracing::Level;
use tracing::level_filters::LevelFilter;

/// The sink is one per process: the tests that set it take turns.
static SINK_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn capture(level: LevelFilter) -> Receiver<LogRecord> {
    let (records, received) = mpsc::channel();
    let records = parking_lot::Mutex::new(records);
    logging::set_log_sink(
        level,
        Some(Arc::new(move |record: &LogRecord| {
            let _ = records.lock().send(record.clone());
        })),
    )
    .unwrap();
    received
}

/// The next record whose message contains `text`, within five seconds.
fn wait_for(received: &Receiver<LogRecord>, text: &str) -> Option<LogRecord> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match received.recv_timeout(left) {
            Ok(record) if record.message.contains(text) => return Some(record),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn warnings_reach_the_sink_at_its_level_and_a_panicking_sink_is_contained() {
    let _turn = SINK_TESTS.lock().await;
    // A name server that refuses connections: the route lookup of the send warns.
    let mut config = ProducerConfig::new("logging_group");
    config.namesrv_addr = Some("127.0.0.1:1".to_string());
    config.set("send_timeout_ms", "500").unwrap();
    let producer = Producer::new(config).unwrap();
    producer.start().await.unwrap();

    let received = capture(LevelFilter::WARN);
    producer
        .send(Message::new("LoggingTopic", "body"))
        .await
        .unwrap_err();
    let warning =
        wait_for(&received, "name server failed").expect("the warning of the failed lookup");
    assert_eq!(warning.level, Level::WARN);
    assert_eq!(warning.target, "rmq_core::client::namesrv");
    assert!(
        warning.message.contains("addr=\"127.0.0.1:1\""),
        "{}",
        warning.message
    );

    // Below the sink's level: not forwarded; at it: forwarded.
    tracing::debug!("debug event one");
    tracing::warn!("warn event one");
    assert!(wait_for(&received, "warn event one").is_some());
    tracing::debug!("debug event two");
    logging::set_log_level(LevelFilter::DEBUG);
    tracing::debug!("debug event three");
    let debug = wait_for(&received, "debug event").expect("a debug record");
    assert_eq!(debug.message, "debug event three");

    // A sink that panics: contained; the next sink gets the next records.
    logging::set_log_sink(
        LevelFilter::WARN,
        Some(Arc::new(|_: &LogRecord| panic!("sink broke"))),
    )
    .unwrap();
    tracing::warn!("to the panicking sink");
    tracing::warn!("to the panicking sink again");
    std::thread::sleep(Duration::from_millis(200));
    let received = capture(LevelFilter::WARN);
    tracing::warn!("after the panics");
    assert!(wait_for(&received, "after the panics").is_some());

    // Silenced: nothing more.
    logging::set_log_sink(LevelFilter::WARN, None).unwrap();
    tracing::error!("never forwarded");
    assert!(wait_for(&received, "never forwarded").is_none());
    producer.shutdown().await.unwrap();
}

#[test]
fn a_sink_slower_than_the_library_gets_one_warning_with_the_dropped_count() {
    let _turn = SINK_TESTS.blocking_lock();
    let (entered, sink_entered) = mpsc::sync_channel::<()>(1);
    let (open_gate, gate) = mpsc::channel::<()>();
    let (records, received) = mpsc::channel::<LogRecord>();
    let gate = parking_lot::Mutex::new(gate);
    logging::set_log_sink(
        LevelFilter::WARN,
        Some(Arc::new(move |record: &LogRecord| {
            // The flood's first record holds the sink until the test opens the gate (records
            // another test left in the queue go before it).
            if record.message == "flood 0" {
                let _ = entered.send(());
                let _ = gate.lock().recv();
            }
            let _ = records.send(record.clone());
        })),
    )
    .unwrap();

    tracing::warn!("flood 0");
    sink_entered.recv_timeout(Duration::from_secs(5)).unwrap();
    // The queue holds 4096 records; the other 903 are dropped.
    for n in 1..5000 {
        tracing::warn!(n, "flood");
    }
    open_gate.send(()).unwrap();
    let warning = wait_for(&received, "dropped").expect("the dropped-records warning");
    assert_eq!(warning.level, Level::WARN);
    assert!(
        warning.message.starts_with("903 log records dropped"),
        "{}",
        warning.message
    );
    // The sink has taken a record from the queue: there is room again.
    tracing::warn!("after the flood");
    assert!(wait_for(&received, "after the flood").is_some());
    logging::set_log_sink(LevelFilter::WARN, None).unwrap();
}

/// Set in the child process [`nothing_is_printed_by_default`] starts.
const SILENT_CHILD: &str = "RMQ_LOGGING_SILENT_CHILD";

#[tokio::test(flavor = "multi_thread")]
async fn failing_sends_without_a_subscriber_or_sink() {
    // The child's body; in the ordinary run it has nothing to do.
    if std::env::var_os(SILENT_CHILD).is_none() {
        return;
    }
    let mut config = ProducerConfig::new("logging_silent_group");
    config.namesrv_addr = Some("127.0.0.1:1".to_string());
    config.set("send_timeout_ms", "300").unwrap();
    let producer = Producer::new(config).unwrap();
    producer.start().await.unwrap();
    for _ in 0..3 {
        producer
            .send(Message::new("LoggingTopic", "body"))
            .await
            .unwrap_err();
    }
    producer.shutdown().await.unwrap();
}

#[test]
fn nothing_is_printed_by_default() {
    // A program that installs no subscriber and sets no sink: failing sends print nothing.
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "failing_sends_without_a_subscriber_or_sink",
            "--nocapture",
            "--quiet",
        ])
        .env(SILENT_CHILD, "1")
        .output()
        .unwrap();
    assert!(child.status.success(), "{child:?}");
    assert_eq!(String::from_utf8_lossy(&child.stderr), "");
    // Only the test harness's own lines.
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(
        stdout.lines().all(|line| line.is_empty()
            || line.starts_with("running ")
            || line.starts_with("test result: ")
            || line == "."),
        "{stdout}"
    );
}
