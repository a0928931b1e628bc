//! The client instance: one per client id (`ip@instanceName`), shared by every producer of a
//! process that uses that id. It owns the connections, the name server list, the route cache and
//! the heartbeats, as Java's `MQClientInstance`.

mod config;
mod namesrv;
mod route;
mod route_cache;
mod server_requests;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::join_all;
use once_cell::sync::Lazy;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub use config::{ClientConfig, Secret, Security};
pub use namesrv::NameServers;
pub use route::TopicPublishInfo;
use route_cache::{RouteTable, route_refresh_loop};
pub use server_requests::TransactionCheckHandler;

use crate::error::{Error, ErrorKind, Result};
use crate::protocol::codes::{request, response};
use crate::protocol::command::{DEFAULT_MAX_FRAME_LEN, RemotingCommand};
use crate::protocol::header::unregister_client_request;
use crate::protocol::heartbeat::{CLIENT_INNER_PRODUCER_GROUP, HeartbeatData};
use crate::protocol::stored::StoredMessage;
use crate::transport::{HangCheck, Transport, TransportConfig};

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

/// How long a suspect broker gets to answer the probe: a heartbeat, which the broker answers on
/// its heartbeat executor, not on the send executor the unanswered request may be waiting for.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

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
    /// Route lookups asked of the name servers, and those that failed.
    route_refreshes: AtomicU64,
    route_refresh_failures: AtomicU64,
}

/// What a client instance (shared by the producers of one client id) did so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct InstanceCounts {
    pub route_refreshes: u64,
    pub route_refresh_failures: u64,
    pub connections_opened: u64,
    pub connections_lost: u64,
}

impl ClientInstance {
    /// Joins the instance of `config`'s client id (creating it if needed) and registers the
    /// producer `group` in it.
    pub fn register(config: &ClientConfig, group: &str) -> Result<Arc<ClientInstance>> {
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
        let client_id = format!("{}@{}", crate::transport::local_ip(), instance_name);

        let registry_key = format!("{client_id} {namesrv_list}");
        let mut instances = INSTANCES.lock();
        let instance = match instances.get(&registry_key) {
            Some(instance) if instance.security != config.security => {
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
        if !instance.producer_groups.lock().insert(group.to_string()) {
            return Err(Error::new(
                ErrorKind::GroupAlreadyExists,
                format!(
                    "producer group '{}' is already registered in client instance {}; use another group or instance_name",
                    group, instance.client_id
                ),
            ));
        }
        Ok(instance)
    }

    fn start(
        client_id: String,
        registry_key: String,
        namesrv_list: &str,
        config: &ClientConfig,
    ) -> Result<Arc<ClientInstance>> {
        let namesrv = NameServers::parse(namesrv_list, &client_id)?;
        let (transport, connected) = Transport::new(TransportConfig {
            serialize: config.serialize_type,
            connect_timeout: config.api_timeout,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_in_flight: config.max_in_flight_per_connection,
            tls: config.security.tls_settings()?,
            credentials: config.security.credentials()?,
        });
        let instance = Arc::new(ClientInstance {
            client_id,
            registry_key,
            security: config.security.clone(),
            namesrv,
            transport,
            api_timeout: config.api_timeout,
            default_topic_queue_nums: config.default_topic_queue_nums,
            create_topic_key: config.create_topic_key.clone(),
            producer_groups: Mutex::new(HashSet::new()),
            transaction_checkers: Mutex::new(HashMap::new()),
            awaited_replies: Mutex::new(HashMap::new()),
            routes: RwLock::new(RouteTable::default()),
            route_lookups: Mutex::new(HashMap::new()),
            last_refresh_request: Mutex::new(HashMap::new()),
            background: Mutex::new(Vec::new()),
            route_refreshes: AtomicU64::new(0),
            route_refresh_failures: AtomicU64::new(0),
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

    pub fn counts(&self) -> InstanceCounts {
        let (connections_opened, connections_lost) = self.transport.connection_counts();
        InstanceCounts {
            route_refreshes: self.route_refreshes.load(Ordering::Relaxed),
            route_refresh_failures: self.route_refresh_failures.load(Ordering::Relaxed),
            connections_opened,
            connections_lost,
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// A request to a broker, answered before `deadline`. Unanswered at `suspect_at`, the
    /// broker is probed with a heartbeat on the same connection: one that answers is slow and is
    /// waited for; one that answers nothing is hung, and the request fails at once.
    pub async fn invoke_broker(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        suspect_at: Option<Instant>,
        deadline: Instant,
    ) -> Result<RemotingCommand> {
        let probe = || self.liveness_probe();
        let hang_check = suspect_at.map(|suspect_at| HangCheck {
            suspect_at,
            probe_timeout: PROBE_TIMEOUT,
            probe: &probe,
        });
        self.transport
            .invoke_until(addr, cmd, hang_check, deadline)
            .await
    }

    /// Where a recall of a message held by `broker_name` goes (Java's `recallMessage`): that
    /// broker's master, as any cached route names it once `topic`'s route is looked up; else any
    /// broker of `topic`'s route (behind a proxy every endpoint serves every broker name).
    pub async fn recall_addr(
        &self,
        topic: &str,
        broker_name: &str,
        deadline: Instant,
    ) -> Result<String> {
        let looked_up = self.route_info(topic, deadline).await;
        let known_master = self
            .routes
            .read()
            .brokers
            .get(broker_name)
            .and_then(|ids| ids.get(&crate::protocol::route::MASTER_ID))
            .cloned();
        if let Some(addr) = known_master {
            return Ok(addr);
        }
        let info = looked_up?;
        let brokers = &info.route.broker_datas;
        let any_broker = (!brokers.is_empty())
            .then(|| &brokers[fastrand::usize(..brokers.len())].broker_addrs)
            .and_then(|addrs| {
                addrs
                    .get(&crate::protocol::route::MASTER_ID)
                    .or_else(|| addrs.values().next())
            });
        any_broker.cloned().ok_or_else(|| {
            Error::new(
                ErrorKind::NoRoute,
                format!(
                    "no address for broker '{broker_name}' of the recall handle, nor any broker in the route of topic '{topic}'"
                ),
            )
        })
    }

    /// A oneway request to a broker: returns once it is queued on the broker's connection.
    pub async fn oneway_broker(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        deadline: Instant,
    ) -> Result<()> {
        self.transport.invoke_oneway(addr, cmd, deadline).await
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
    fn liveness_probe(&self) -> RemotingCommand {
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
