//! The instance's cached routes: one name server lookup per topic at a time, refreshes after
//! failures and every `poll_namesrv_interval`, and the cleanup of brokers no route names.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::protocol::codes::response;
use crate::protocol::header::get_route_info_request;
use crate::protocol::route::TopicRouteData;

use super::{ClientInstance, TopicPublishInfo, route};

/// A failed send may ask for a route refresh; at most this often per topic.
const ROUTE_REFRESH_THROTTLE: Duration = Duration::from_secs(1);
/// Periodic route lookups in flight at once.
const ROUTE_REFRESH_CONCURRENCY: usize = 8;

/// The lookup lock of one topic, held; the last holder removes the lock from the table, so
/// that topics looked up once (a mistyped name) do not stay in it.
struct RouteLookup<'a> {
    lookups: &'a Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    topic: &'a str,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for RouteLookup<'_> {
    fn drop(&mut self) {
        let mut lookups = self.lookups.lock();
        // The table and this guard hold the lock; any other holder is a caller waiting for it.
        if lookups
            .get(self.topic)
            .is_some_and(|lock| Arc::strong_count(lock) == 2)
        {
            lookups.remove(self.topic);
        }
        drop(self.guard.take());
    }
}

#[derive(Default)]
pub(super) struct RouteTable {
    by_topic: HashMap<String, Arc<TopicPublishInfo>>,
    /// broker name → (broker id → address), from every cached route.
    pub(super) brokers: HashMap<String, BTreeMap<i64, String>>,
}

impl ClientInstance {
    /// The publish info of `topic`, with at least one writable queue: cached, else from the
    /// name server, else derived from the create-topic-key route so that the broker creates
    /// the topic on the first send. A route without a writable queue (drained brokers, no
    /// master) is `NoRoute`.
    pub async fn publish_info(
        &self,
        topic: &str,
        deadline: Instant,
    ) -> Result<Arc<TopicPublishInfo>> {
        let info = self.route_info(topic, deadline).await?;
        if info.queues.is_empty() {
            return Err(info.no_writable_queue());
        }
        Ok(info)
    }

    /// The route of `topic` as [`ClientInstance::publish_info`], but possibly without a
    /// writable queue: enough to reach the broker that stored a message (END_TRANSACTION).
    pub async fn route_info(
        &self,
        topic: &str,
        deadline: Instant,
    ) -> Result<Arc<TopicPublishInfo>> {
        if let Some(info) = self.cached_publish_info(topic) {
            return Ok(info);
        }
        let _guard = self.lock_route_lookup(topic, deadline).await?;
        if let Some(info) = self.cached_publish_info(topic) {
            return Ok(info);
        }
        if let Some(info) = self.update_route(topic, deadline).await? {
            return Ok(info);
        }
        let default_route = self.fetch_route(&self.create_topic_key, deadline).await?;
        let Some(default_route) = default_route else {
            return Err(Error::new(
                ErrorKind::NoRoute,
                format!(
                    "no route for topic '{topic}', and no '{}' route to create it from (is autoCreateTopicEnable off?)",
                    self.create_topic_key
                ),
            ));
        };
        let route = route::route_from_default_topic(default_route, self.default_topic_queue_nums);
        let info = Arc::new(TopicPublishInfo::new(topic, route, true));
        if info.queues.is_empty() {
            return Err(Error::new(
                ErrorKind::NoRoute,
                format!(
                    "no queue of topic '{topic}' is writable: the topic does not exist yet, and the brokers of '{}' that would create it are read-only (drained) or have no master up",
                    self.create_topic_key
                ),
            ));
        }
        self.store_route(topic, info.clone());
        Ok(info)
    }

    fn cached_publish_info(&self, topic: &str) -> Option<Arc<TopicPublishInfo>> {
        self.routes
            .read()
            .by_topic
            .get(topic)
            .filter(|info| !info.queues.is_empty())
            .cloned()
    }

    /// Asks the name server for `topic`'s route and caches it if it changed. `None`: the name
    /// server does not know the topic.
    async fn update_route(
        &self,
        topic: &str,
        deadline: Instant,
    ) -> Result<Option<Arc<TopicPublishInfo>>> {
        let Some(route) = self.fetch_route(topic, deadline).await? else {
            return Ok(None);
        };
        if let Some(current) = self.routes.read().by_topic.get(topic) {
            if !current.from_default_topic && current.route == route {
                return Ok(Some(current.clone()));
            }
        }
        let info = Arc::new(TopicPublishInfo::new(topic, route, false));
        if info.queues.is_empty() {
            tracing::warn!(topic, "route has no writable queue");
        }
        self.store_route(topic, info.clone());
        Ok(Some(info))
    }

    async fn fetch_route(&self, topic: &str, deadline: Instant) -> Result<Option<TopicRouteData>> {
        self.route_refreshes.fetch_add(1, Ordering::Relaxed);
        let route = self.ask_route(topic, deadline).await;
        if route.is_err() {
            self.route_refresh_failures.fetch_add(1, Ordering::Relaxed);
        }
        route
    }

    async fn ask_route(&self, topic: &str, deadline: Instant) -> Result<Option<TopicRouteData>> {
        let deadline = deadline.min(Instant::now() + self.api_timeout);
        let response = self
            .namesrv
            .invoke(&self.transport, get_route_info_request(topic), deadline)
            .await?;
        match response.code {
            response::SUCCESS => TopicRouteData::decode(&response.body).map(Some),
            response::TOPIC_NOT_EXIST => Ok(None),
            code => {
                Err(Error::broker(code, response.remark, "name server").context("route lookup"))
            }
        }
    }

    fn store_route(&self, topic: &str, info: Arc<TopicPublishInfo>) {
        tracing::debug!(topic, queues = info.queues.len(), "route updated");
        let mut routes = self.routes.write();
        for broker in &info.route.broker_datas {
            routes
                .brokers
                .insert(broker.broker_name.clone(), broker.broker_addrs.clone());
        }
        routes.by_topic.insert(topic.to_string(), info);
    }

    /// After a send failed in a way that suggests a stale route: refresh it now, not at the
    /// next 30 s poll (throttled per topic).
    pub fn refresh_route_soon(self: &Arc<Self>, topic: &str) {
        let now = Instant::now();
        {
            let mut last = self.last_refresh_request.lock();
            if last
                .get(topic)
                .is_some_and(|at| now.duration_since(*at) < ROUTE_REFRESH_THROTTLE)
            {
                return;
            }
            last.insert(topic.to_string(), now);
        }
        let this = self.clone();
        let topic = topic.to_string();
        crate::runtime::spawn(async move {
            if let Err(e) = this.refresh_route(&topic).await {
                tracing::debug!(topic, error = %e, "route refresh failed");
            }
        });
    }

    /// Waits (until `deadline`) for the lookups of `topic` already under way.
    async fn lock_route_lookup<'a>(
        &'a self,
        topic: &'a str,
        deadline: Instant,
    ) -> Result<RouteLookup<'a>> {
        let lock = self
            .route_lookups
            .lock()
            .entry(topic.to_string())
            .or_default()
            .clone();
        tokio::time::timeout_at(deadline, lock.lock_owned())
            .await
            .map(|guard| RouteLookup {
                lookups: &self.route_lookups,
                topic,
                guard: Some(guard),
            })
            .map_err(|_| {
                Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "the route lookup of topic '{topic}' was still under way at the deadline"
                    ),
                )
            })
    }

    async fn refresh_route(&self, topic: &str) -> Result<Option<Arc<TopicPublishInfo>>> {
        let deadline = Instant::now() + self.api_timeout;
        let _guard = self.lock_route_lookup(topic, deadline).await?;
        self.update_route(topic, deadline).await
    }

    /// Asks for every cached route, a few topics at a time: each lookup is bounded by the API
    /// timeout, so many topics on a hung name server cost a few timeouts, not one per topic.
    async fn refresh_all_routes(&self) {
        let topics: Vec<String> = self.routes.read().by_topic.keys().cloned().collect();
        futures_util::stream::iter(topics)
            .for_each_concurrent(ROUTE_REFRESH_CONCURRENCY, |topic| async move {
                if let Err(e) = self.refresh_route(&topic).await {
                    // A name server that is down leaves the cached routes in use.
                    tracing::debug!(topic, error = %e, "periodic route refresh failed");
                }
            })
            .await;
    }

    /// Drops brokers that no cached route mentions any more, and their connections.
    pub(super) fn clean_offline_brokers(&self) {
        let mut routes = self.routes.write();
        let live: HashSet<String> = routes
            .by_topic
            .values()
            .flat_map(|info| {
                info.route
                    .all_broker_addrs()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut gone = Vec::new();
        routes.brokers.retain(|name, ids| {
            ids.retain(|_, addr| {
                let keep = live.contains(addr);
                if !keep {
                    gone.push(addr.clone());
                }
                keep
            });
            let keep = !ids.is_empty();
            if !keep {
                tracing::info!(broker = %name, "broker left every route");
            }
            keep
        });
        drop(routes);
        for addr in gone {
            self.transport.close(&addr);
        }
    }
}

/// Refreshes every cached route each `poll_interval`.
pub(super) async fn route_refresh_loop(instance: Weak<ClientInstance>, poll_interval: Duration) {
    let mut poll = tokio::time::interval_at(Instant::now() + poll_interval, poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        poll.tick().await;
        let Some(instance) = instance.upgrade() else {
            return;
        };
        instance.refresh_all_routes().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::protocol::route::{BrokerData, MASTER_ID};

    fn route_naming(broker: &str, addr: &str) -> TopicRouteData {
        TopicRouteData {
            broker_datas: vec![BrokerData {
                cluster: "c".into(),
                broker_name: broker.into(),
                broker_addrs: BTreeMap::from([(MASTER_ID, addr.to_string())]),
            }],
            ..TopicRouteData::default()
        }
    }

    fn instance(name: &str) -> Arc<ClientInstance> {
        // The producer's defaults, as a client instance gets them.
        let config = crate::producer::ProducerConfig::new(name).client_config();
        ClientInstance::start(format!("test@{name}"), name.into(), "127.0.0.1:1", &config).unwrap()
    }

    #[tokio::test]
    async fn a_route_lookup_lock_is_waited_for_until_the_deadline_and_then_forgotten() {
        let instance = instance("lookup_locks");
        let soon = |ms| Instant::now() + Duration::from_millis(ms);
        let first = instance.lock_route_lookup("t", soon(1000)).await.unwrap();
        let e = instance
            .lock_route_lookup("t", soon(50))
            .await
            .err()
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        let (second, ()) = tokio::join!(instance.lock_route_lookup("t", soon(1000)), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(first);
        });
        assert!(instance.route_lookups.lock().contains_key("t"));
        drop(second);
        assert!(instance.route_lookups.lock().is_empty());
    }

    #[test]
    fn a_cleanup_never_drops_a_broker_of_a_route_stored_meanwhile() {
        let instance = instance("cleanup_race");
        let stored = AtomicBool::new(false);
        const TOPICS: usize = 5_000;
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !stored.load(Ordering::Acquire) {
                    instance.clean_offline_brokers();
                }
            });
            for i in 0..TOPICS {
                let route = route_naming(&format!("b{i}"), &format!("127.0.0.1:{}", 1 + i));
                let info = Arc::new(TopicPublishInfo::new(&format!("t{i}"), route, false));
                instance.store_route(&format!("t{i}"), info);
            }
            stored.store(true, Ordering::Release);
        });
        let masters: HashSet<String> = instance.master_addrs().into_iter().collect();
        let dropped: Vec<usize> = (0..TOPICS)
            .filter(|i| !masters.contains(&format!("127.0.0.1:{}", 1 + i)))
            .collect();
        assert!(
            dropped.is_empty(),
            "{} brokers named by cached routes were dropped, e.g. b{}",
            dropped.len(),
            dropped[0]
        );
    }
}
