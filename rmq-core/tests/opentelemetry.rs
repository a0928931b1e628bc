//! The `opentelemetry` feature: a producer's statistics exported through the SDK, read back with
//! its in-memory exporter. Sends go to an in-process fake broker: what is checked here is the
//! export, not the broker (tests/metrics.rs checks the numbers on the real cluster).
#![cfg(feature = "opentelemetry")]

mod support;

use std::time::Duration;

use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use rmq_core::{Message, Producer, ProducerConfig};
use support::fake::{FakeNameServer, SlowBroker};

/// The metric `name` of the last export.
fn metric<'a>(
    exported: &'a [ResourceMetrics],
    name: &str,
) -> &'a opentelemetry_sdk::metrics::data::Metric {
    exported
        .iter()
        .rev()
        .flat_map(|r| r.scope_metrics())
        .flat_map(|s| s.metrics())
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no metric {name} exported"))
}

fn attribute(attributes: impl Iterator<Item = opentelemetry::KeyValue>, key: &str) -> String {
    attributes
        .into_iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn statistics_export_through_the_sdk_under_the_5x_clients_names() {
    let broker = SlowBroker::start(Duration::ZERO).await;
    let namesrv = FakeNameServer::start(&broker.addr).await;
    let mut config = ProducerConfig::new("OtelGroup");
    config.namesrv_addr = Some(namesrv.addr.clone());
    config.set("vip_channel_enabled", "false").unwrap();
    let producer = Producer::new(config).unwrap();

    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    producer.register_opentelemetry(&provider.meter("rmqproducer"));
    producer.start().await.unwrap();
    for i in 0..7 {
        producer
            .send(Message::new("OtelTopic", format!("m{i}")))
            .await
            .unwrap();
    }
    provider.force_flush().unwrap();
    let exported = exporter.get_finished_metrics().unwrap();

    let AggregatedMetrics::F64(MetricData::Histogram(cost)) =
        metric(&exported, "rocketmq_send_cost_time").data()
    else {
        panic!("rocketmq_send_cost_time is no f64 histogram");
    };
    let point = cost.data_points().next().expect("a data point");
    assert_eq!(point.count(), 7);
    assert_eq!(
        point.bounds().collect::<Vec<_>>(),
        vec![1.0, 5.0, 10.0, 20.0, 50.0, 200.0, 500.0]
    );
    let attributes = || point.attributes().cloned();
    assert_eq!(attribute(attributes(), "topic"), "OtelTopic");
    assert_eq!(attribute(attributes(), "invocation_status"), "success");
    assert!(attribute(attributes(), "client_id").contains('@'));

    let AggregatedMetrics::U64(MetricData::Sum(sends)) =
        metric(&exported, "rocketmq_producer_sends").data()
    else {
        panic!("rocketmq_producer_sends is no u64 sum");
    };
    let point = sends.data_points().next().expect("a data point");
    assert_eq!(point.value(), 7);
    assert_eq!(attribute(point.attributes().cloned(), "form"), "sync");
    assert_eq!(attribute(point.attributes().cloned(), "outcome"), "SEND_OK");
    assert_eq!(
        attribute(point.attributes().cloned(), "producer_group"),
        "OtelGroup"
    );

    let AggregatedMetrics::U64(MetricData::Sum(attempts)) =
        metric(&exported, "rocketmq_producer_attempts").data()
    else {
        panic!("rocketmq_producer_attempts is no u64 sum");
    };
    assert_eq!(attempts.data_points().next().unwrap().value(), 7);
    let AggregatedMetrics::U64(MetricData::Gauge(in_flight)) =
        metric(&exported, "rocketmq_producer_in_flight").data()
    else {
        panic!("rocketmq_producer_in_flight is no u64 gauge");
    };
    assert_eq!(in_flight.data_points().next().unwrap().value(), 0);
    producer.shutdown().await.unwrap();
    provider.shutdown().unwrap();
}
