//! What a Rust program's `tracing` subscriber sees: a span around a send ("send") and each of its
//! attempts ("send_attempt"), and the library's warnings. Its own test binary: it installs the process's global subscriber, since the
//! sends run on the library's runtime threads.

mod support;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rmq_core::{Message, Producer, ProducerConfig};
use support::fake::{FakeNameServer, SlowBroker};
use tracing::span::{Attributes, Id};
use tracing::subscriber::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span opened: its name, its fields as text, and its parent's name.
type OpenedSpan = (String, String, Option<String>);

/// Each span opened, and each warning (its target and fields as text).
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<OpenedSpan>>>, Arc<Mutex<Vec<String>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = String::new();
        attrs.record(
            &mut |field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
                fields.push_str(&format!("{}={value:?} ", field.name()));
            },
        );
        let parent = ctx
            .span(id)
            .and_then(|span| span.parent())
            .map(|parent| parent.name().to_string());
        self.0
            .lock()
            .push((attrs.metadata().name().to_string(), fields, parent));
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut text = format!("{}: ", event.metadata().target());
            event.record(
                &mut |field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
                    text.push_str(&format!("{}={value:?} ", field.name()));
                },
            );
            self.1.lock().push(text);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_send_is_a_span_each_attempt_a_span_inside_it_and_warnings_are_events() {
    let spans = Spans::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(spans.clone()))
        .unwrap();
    let broker = SlowBroker::start(Duration::ZERO).await;
    let namesrv = FakeNameServer::start(&broker.addr).await;
    let mut config = ProducerConfig::new("SpansGroup");
    config.namesrv_addr = Some(namesrv.addr.clone());
    config.set("vip_channel_enabled", "false").unwrap();
    let producer = Producer::new(config).unwrap();
    producer.start().await.unwrap();
    producer
        .send(Message::new("SpanTopic", "in a span"))
        .await
        .unwrap();
    producer.shutdown().await.unwrap();

    // A name server that refuses connections: the route lookup warns.
    let mut config = ProducerConfig::new("SpansUnreachableGroup");
    config.namesrv_addr = Some("127.0.0.1:1".to_string());
    config.set("send_timeout_ms", "500").unwrap();
    let unreachable = Producer::new(config).unwrap();
    unreachable.start().await.unwrap();
    unreachable
        .send(Message::new("SpanTopic", "nowhere"))
        .await
        .unwrap_err();
    unreachable.shutdown().await.unwrap();
    let warnings = spans.1.lock().clone();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("rmq_core::client::namesrv") && w.contains("name server failed")),
        "{warnings:?}"
    );

    let spans = spans.0.lock().clone();
    let send = spans
        .iter()
        .find(|(name, fields, _)| name == "send" && fields.contains("SpanTopic"))
        .unwrap_or_else(|| panic!("no send span: {spans:?}"));
    assert!(send.1.contains("mode=Sync"), "{send:?}");
    let attempt = spans
        .iter()
        .find(|(name, _, _)| name == "send_attempt")
        .unwrap_or_else(|| panic!("no attempt span: {spans:?}"));
    assert_eq!(attempt.2.as_deref(), Some("send"), "{attempt:?}");
    assert!(
        attempt.1.contains("broker=fake-broker") && attempt.1.contains("attempt=0"),
        "{attempt:?}"
    );
}
