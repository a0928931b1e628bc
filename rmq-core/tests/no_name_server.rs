//! Its own test binary, because it changes the process environment.

use rmq_core::{ErrorKind, Producer, ProducerConfig};

#[tokio::test]
async fn a_producer_without_any_name_server_fails_to_start_clearly() {
    // SAFETY: this binary has no other test, so no thread reads the environment meanwhile.
    unsafe { std::env::remove_var("NAMESRV_ADDR") };
    let producer = Producer::new(ProducerConfig::new("no_namesrv_group")).unwrap();
    let e = producer.start().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoNameServer);
    assert!(e.message().contains("NAMESRV_ADDR"), "{e}");
}
