//! The client instance: one per client id (`ip@instanceName`), shared by every producer of a
//! process that uses that id. It owns the connections, the name server list, the route cache and
//! the heartbeats, as Java's `MQClientInstance`.

mod namesrv;
mod route;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use once_cell::sync::Lazy;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub use namesrv::NameServers;
pub use route::TopicPublishInfo;

use crate::error::{Error, ErrorKind, Result};
use crate::producer::ProducerConfig;
use crate::protocol::codes::{request, response};
use crate::protocol::command::{DEFAULT_MAX_FRAME_LEN, RemotingCommand};
use crate::protocol::header::{get_route_info_request, unregister_client_request};
use crate::protocol::heartbeat::{CLIENT_INNER_PRODUCER_GROUP, HeartbeatData};
use crate::protocol::message::property;
use crate::protocol::route::TopicRouteData;
use crate::protocol::stored::StoredMessage;
use crate::protocol::transaction::CheckTransactionStateRequestHeader;
use crate::transport::{Transport, TransportConfig};

/// Live instances by client id and name server list: producers of one process share an
/// instance, unless they name different clusters (Java would silently use the first one's).
static INSTANCES: Lazy<Mutex<HashMap<String, Arc<ClientInstance>>>> = Lazy::new(Default::default);

/// The default instance name: one per process, like Java's pid-based name, so that all producers
/// of a process share one instance (and one connection per broker).
static DEFAULT_INSTANCE_NAME: Lazy<String> = Lazy::new(|| {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}#{}", std::process::id(), nanos)
});

/// Answers a broker's check of a half message for one producer group: gets the broker's
/// address, the check's header and the half message. Called on a connection's reader task: it
/// must not block.
pub type TransactionCheckHandler =
    Arc<dyn Fn(String, CheckTransactionStateRequestHeader, StoredMessage) + Send + Sync>;

/// A failed send may ask for a route refresh; at most this often per topic.
const ROUTE_REFRESH_THROTTLE: Duration = Duration::from_secs(1);
/// Periodic route lookups in flight at once.
const ROUTE_REFRESH_CONCURRENCY: usize = 8;

/// The settings a client instance's connections are made with; producers sharing an instance
/// must agree on them.
#[derive(Clone, PartialEq)]
struct Security {
    tls: bool,
    tls_verify: bool,
    tls_ca_file: Option<std::path::PathBuf>,
    tls_server_name: Option<String>,
    access_key: Option<String>,
    secret_key: Option<crate::producer::Secret>,
    security_token: Option<crate::producer::Secret>,
}

impl Security {
    fn of(config: &ProducerConfig) -> Security {
        Security {
            tls: config.tls,
            tls_verify: config.tls_verify,
            tls_ca_file: config.tls_ca_file.clone(),
            tls_server_name: config.tls_server_name.clone(),
            access_key: config.access_key.clone(),
            secret_key: config.secret_key.clone(),
            security_token: config.security_token.clone(),
        }
    }
}

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
struct RouteTable {
    by_topic: HashMap<String, Arc<TopicPublishInfo>>,
    /// broker name → (broker id → address), from every cached route.
    brokers: HashMap<String, BTreeMap<i64, String>>,
}

pub struct ClientInstance {
    client_id: String,
    registry_key: String,
    security: Security,
    namesrv: NameServers,
    transport: Transport,
    api_timeout: Duration,
    default_topic_queue_nums: i32,
    create_topic_key: String,
    producer_groups: Mutex<HashSet<String>>,
    transaction_checkers: Mutex<HashMap<String, TransactionCheckHandler>>,
    /// Request-reply: the replies awaited, by CORRELATION_ID.
    awaited_replies: Mutex<HashMap<String, oneshot::Sender<StoredMessage>>>,
    /// The cached routes and the brokers they name, under one lock: a cleanup must not drop a
    /// broker that a route stored meanwhile names.
    routes: RwLock<RouteTable>,
    /// One lock per topic: serialises the name server lookups of a topic, so that a burst of
    /// sends to a new topic asks once, while lookups of different topics run side by side.
    route_lookups: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    last_refresh_request: Mutex<HashMap<String, Instant>>,
    background: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl ClientInstance {
    /// Joins the instance of `config`'s client id (creating it if needed) and registers the
    /// producer group in it.
    pub fn register(config: &ProducerConfig) -> Result<Arc<ClientInstance>> {
        let namesrv_list = config
            .namesrv_addr
            .clone()
            .or_else(|| std::env::var("NAMESRV_ADDR").ok().filter(|v| !v.trim().is_empty()))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NoNameServer,
                    "no name server: set the namesrv_addr option or the NAMESRV_ADDR environment variable",
                )
            })?;
        let instance_name = config
            .instance_name
            .clone()
            .unwrap_or_else(|| DEFAULT_INSTANCE_NAME.clone());
        let client_id = format!("{}@{}", crate::protocol::message::local_ip(), instance_name);

        let registry_key = format!("{client_id} {namesrv_list}");
        let mut instances = INSTANCES.lock();
        let instance = match instances.get(&registry_key) {
            Some(instance) if instance.security != Security::of(config) => {
                return Err(Error::invalid_argument(format!(
                    "client instance {client_id} already runs with other TLS or credential settings; give this producer another instance_name"
                )));
            }
            Some(instance) => instance.clone(),
            None => {
                let instance =
                    ClientInstance::start(client_id, registry_key.clone(), &namesrv_list, config)?;
                instances.insert(registry_key, instance.clone());
                instance
            }
        };
        if !instance.producer_groups.lock().insert(config.group.clone()) {
            return Err(Error::new(
                ErrorKind::GroupAlreadyExists,
                format!(
                    "producer group '{}' is already registered in client instance {}; use another group or instance_name",
                    config.group, instance.client_id
                ),
            ));
        }
        Ok(instance)
    }

    fn start(
        client_id: String,
        registry_key: String,
        namesrv_list: &str,
        config: &ProducerConfig,
    ) -> Result<Arc<ClientInstance>> {
        let namesrv = NameServers::parse(namesrv_list, &client_id)?;
        let (transport, connected) = Transport::new(TransportConfig {
            serialize: config.serialize_type,
            connect_timeout: config.client_api_timeout,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_in_flight: config.max_in_flight_per_connection,
            tls: config.tls_settings()?,
            credentials: config.credentials()?,
        });
        let instance = Arc::new(ClientInstance {
            client_id,
            registry_key,
            security: Security::of(config),
            namesrv,
            transport,
            api_timeout: config.client_api_timeout,
            default_topic_queue_nums: config.default_topic_queue_nums,
            create_topic_key: config.create_topic_key.clone(),
            producer_groups: Mutex::new(HashSet::new()),
            transaction_checkers: Mutex::new(HashMap::new()),
            awaited_replies: Mutex::new(HashMap::new()),
            routes: RwLock::new(RouteTable::default()),
            route_lookups: Mutex::new(HashMap::new()),
            last_refresh_request: Mutex::new(HashMap::new()),
            background: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&instance);
        instance.transport.register_server_handler(
            request::CHECK_TRANSACTION_STATE,
            Arc::new(move |addr, cmd| {
                if let Some(instance) = weak.upgrade() {
                    instance.on_transaction_check(addr, cmd);
                }
                // The check is oneway: the answer is a separate END_TRANSACTION.
                None
            }),
        );
        let weak = Arc::downgrade(&instance);
        instance.transport.register_server_handler(
            request::PUSH_REPLY_MESSAGE_TO_CLIENT,
            Arc::new(move |addr, cmd| {
                let instance = weak.upgrade()?;
                Some(instance.on_reply_push(addr, cmd))
            }),
        );
        // Two tasks, so that route lookups stuck on a name server never delay a heartbeat.
        let heartbeats = crate::runtime::spawn(heartbeat_loop(
            Arc::downgrade(&instance),
            connected,
            config.heartbeat_interval,
        ));
        let refreshes = crate::runtime::spawn(route_refresh_loop(
            Arc::downgrade(&instance),
            config.poll_namesrv_interval,
        ));
        *instance.background.lock() = vec![heartbeats, refreshes];
        tracing::info!(client_id = %instance.client_id, namesrv = ?instance.namesrv.addrs(), "client instance started");
        Ok(instance)
    }

    /// Removes the producer group: UNREGISTER_CLIENT to every known broker; the last group
    /// out closes the instance (background tasks, connections).
    pub async fn unregister(self: &Arc<Self>, group: &str) {
        let last = {
            let mut instances = INSTANCES.lock();
            let mut groups = self.producer_groups.lock();
            groups.remove(group);
            let last = groups.is_empty();
            if last {
                instances.remove(&self.registry_key);
            }
            last
        };
        let addrs: Vec<String> = self
            .routes
            .read()
            .brokers
            .values()
            .flat_map(|ids| ids.values().cloned())
            .collect();
        let deadline = Instant::now() + self.api_timeout;
        let requests = addrs.iter().map(|addr| async move {
            let cmd = unregister_client_request(&self.client_id, group);
            match self.transport.invoke(addr, cmd, deadline).await {
                Ok(r) if r.code == response::SUCCESS => {}
                Ok(r) => {
                    tracing::warn!(addr, code = r.code, remark = ?r.remark, "unregister refused")
                }
                Err(e) => tracing::warn!(addr, error = %e, "unregister failed"),
            }
        });
        join_all(requests).await;
        if last {
            for task in self.background.lock().drain(..) {
                task.abort();
            }
            self.transport.close_all();
            tracing::info!(client_id = %self.client_id, "client instance closed");
        }
    }

    /// Sends the broker's transaction checks of half messages of `group` to `handler`.
    pub fn register_transaction_checker(&self, group: &str, handler: TransactionCheckHandler) {
        self.transaction_checkers
            .lock()
            .insert(group.to_string(), handler);
    }

    pub fn unregister_transaction_checker(&self, group: &str) {
        self.transaction_checkers.lock().remove(group);
    }

    /// CHECK_TRANSACTION_STATE: the half message names its producer group (PGROUP), whose
    /// checker answers (`ClientRemotingProcessor.checkTransactionState`).
    fn on_transaction_check(&self, addr: &str, cmd: RemotingCommand) {
        let decoded = CheckTransactionStateRequestHeader::from_ext_fields(&cmd.ext_fields)
            .and_then(|header| Ok((header, StoredMessage::decode(&cmd.body)?)));
        let (header, msg) = match decoded {
            Ok(decoded) => decoded,
            Err(e) => {
                tracing::warn!(addr, error = %e, "undecodable transaction check");
                return;
            }
        };
        let Some(group) = msg.property(property::PGROUP).map(str::to_string) else {
            tracing::warn!(addr, topic = %msg.topic, "transaction check of a message without PGROUP");
            return;
        };
        let handler = self.transaction_checkers.lock().get(&group).cloned();
        match handler {
            Some(handler) => handler(addr.to_string(), header, msg),
            None => tracing::warn!(
                addr,
                group,
                "transaction check for a group without a transaction producer here"
            ),
        }
    }

    /// Starts waiting for the reply with `correlation_id`; see [`ClientInstance::forget_reply`].
    pub fn await_reply(&self, correlation_id: &str) -> oneshot::Receiver<StoredMessage> {
        let (tx, rx) = oneshot::channel();
        self.awaited_replies
            .lock()
            .insert(correlation_id.to_string(), tx);
        rx
    }

    /// Stops waiting (the request timed out or failed).
    pub fn forget_reply(&self, correlation_id: &str) {
        self.awaited_replies.lock().remove(correlation_id);
    }

    /// PUSH_REPLY_MESSAGE_TO_CLIENT: hands the reply to its request by CORRELATION_ID and
    /// answers the broker (`ClientRemotingProcessor.receiveReplyMessage`).
    fn on_reply_push(&self, addr: &str, cmd: RemotingCommand) -> RemotingCommand {
        let reply = match StoredMessage::from_reply_push(&cmd.ext_fields, &cmd.body) {
            Ok(reply) => reply,
            Err(e) => {
                tracing::warn!(addr, error = %e, "undecodable reply push");
                return RemotingCommand::response(response::SYSTEM_ERROR, 0, Some(e.to_string()));
            }
        };
        let waiting = reply
            .property(property::CORRELATION_ID)
            .and_then(|id| self.awaited_replies.lock().remove(id));
        match waiting {
            Some(tx) => {
                let _ = tx.send(reply);
            }
            None => tracing::debug!(addr, "reply to no awaited request (timed out?)"),
        }
        RemotingCommand::response(response::SUCCESS, 0, None)
    }

    /// Makes sure every master of `info`'s route has heard from this client, so that any of
    /// them can push a reply to it (Java heartbeats all brokers before a request). Gives up on
    /// a broker at `deadline`.
    pub async fn heartbeat_route_masters(&self, info: &TopicPublishInfo, deadline: Instant) {
        let fresh: Vec<String> = info
            .route
            .broker_datas
            .iter()
            .filter_map(|b| {
                b.broker_addrs
                    .get(&crate::protocol::route::MASTER_ID)
                    .cloned()
            })
            .filter(|addr| !self.transport.is_connected(addr))
            .collect();
        join_all(fresh.iter().map(|addr| self.heartbeat(addr, deadline))).await;
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

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
    fn clean_offline_brokers(&self) {
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

    fn master_addrs(&self) -> Vec<String> {
        self.routes
            .read()
            .brokers
            .values()
            .filter_map(|ids| ids.get(&0).cloned())
            .collect()
    }

    fn heartbeat_data(&self) -> HeartbeatData {
        let mut groups: Vec<String> = self.producer_groups.lock().iter().cloned().collect();
        groups.sort();
        groups.push(CLIENT_INNER_PRODUCER_GROUP.to_string());
        HeartbeatData {
            client_id: self.client_id.clone(),
            producer_groups: groups,
        }
    }

    /// A request a broker answers at once on its heartbeat executor, apart from the send
    /// executor: an answer to it while a send is unanswered tells a slow broker from a hung one.
    pub fn liveness_probe(&self) -> RemotingCommand {
        self.heartbeat_data().to_command()
    }

    async fn heartbeat(&self, addr: &str, deadline: Instant) {
        let cmd = self.heartbeat_data().to_command();
        let deadline = deadline.min(Instant::now() + self.api_timeout);
        match self.transport.invoke(addr, cmd, deadline).await {
            Ok(r) if r.code == response::SUCCESS => tracing::trace!(addr, "heartbeat"),
            Ok(r) => tracing::warn!(addr, code = r.code, remark = ?r.remark, "heartbeat refused"),
            Err(e) => tracing::debug!(addr, error = %e, "heartbeat failed"),
        }
    }

    /// Heartbeats every known master (Java does it at each producer start too, so that a
    /// new group is known to the brokers before its first send).
    pub async fn heartbeat_all(&self) {
        let addrs = self.master_addrs();
        let deadline = Instant::now() + self.api_timeout;
        join_all(addrs.iter().map(|addr| self.heartbeat(addr, deadline))).await;
    }
}

/// Broker cleanup and heartbeats; a heartbeat goes at once to every master the transport newly
/// connects to (the broker must know the producer before it is asked anything).
async fn heartbeat_loop(
    instance: Weak<ClientInstance>,
    mut connected: mpsc::UnboundedReceiver<String>,
    heartbeat_interval: Duration,
) {
    let mut heartbeat =
        tokio::time::interval_at(Instant::now() + heartbeat_interval, heartbeat_interval);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                let Some(instance) = instance.upgrade() else { return };
                instance.clean_offline_brokers();
                instance.heartbeat_all().await;
            }
            addr = connected.recv() => {
                let Some(addr) = addr else { return };
                let Some(instance) = instance.upgrade() else { return };
                if instance.master_addrs().contains(&addr) {
                    tokio::spawn(async move {
                        let deadline = Instant::now() + instance.api_timeout;
                        instance.heartbeat(&addr, deadline).await
                    });
                }
            }
        }
    }
}

/// Refreshes every cached route each `poll_interval`.
async fn route_refresh_loop(instance: Weak<ClientInstance>, poll_interval: Duration) {
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
        let mut config = ProducerConfig::new(name);
        config.namesrv_addr = Some("127.0.0.1:1".into());
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
