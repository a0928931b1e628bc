//! TopicRouteData JSON from the name server, standard or with fastjson's unquoted integer keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmq_core::ErrorKind;
use rmq_core::protocol::route::{MASTER_ID, PERM_WRITE, TopicRouteData};

/// `publish_queues` makes one queue per write queue, as Java does; a route that claims millions
/// is not the decoder's concern, so larger ones are not expanded here.
const MAX_EXPANDED_QUEUES: i64 = 1 << 16;

fuzz_target!(|body: &[u8]| {
    let route = match TopicRouteData::decode(body) {
        Ok(route) => route,
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
            return;
        }
    };
    let addrs: usize = route
        .broker_datas
        .iter()
        .map(|b| b.broker_addrs.len())
        .sum();
    assert_eq!(route.all_broker_addrs().count(), addrs);
    for broker in &route.broker_datas {
        let master = route.master_addr(&broker.broker_name);
        // The first broker of a name answers for it.
        if route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == broker.broker_name)
            == Some(broker)
        {
            assert_eq!(
                master,
                broker.broker_addrs.get(&MASTER_ID).map(String::as_str)
            );
        }
    }
    let claimed: i64 = match route.order_topic_conf.as_deref().filter(|c| !c.is_empty()) {
        Some(conf) => conf
            .split(';')
            .filter_map(|entry| entry.split_once(':')?.1.trim().parse::<i32>().ok())
            .map(|n| i64::from(n.max(0)))
            .sum(),
        None => route
            .queue_datas
            .iter()
            .map(|q| i64::from(q.write_queue_nums.max(0)))
            .sum(),
    };
    if claimed > MAX_EXPANDED_QUEUES {
        return;
    }
    let queues = route.publish_queues("T");
    assert!(queues.len() as i64 <= claimed);
    for queue in &queues {
        assert_eq!(queue.topic, "T");
        assert!(queue.queue_id >= 0);
        if route.order_topic_conf.as_deref().is_none_or(str::is_empty) {
            // From queue data: only writable queues of brokers with a master.
            assert!(route.master_addr(&queue.broker_name).is_some());
            assert!(
                route
                    .queue_datas
                    .iter()
                    .any(|q| q.broker_name == queue.broker_name
                        && q.perm & PERM_WRITE != 0
                        && queue.queue_id < q.write_queue_nums)
            );
        }
    }
});
