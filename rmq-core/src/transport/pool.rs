//! The connection table of a client instance: one connection per address, made on first use,
//! made again on the next use after it dies.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::protocol::acl::Credentials;
use crate::protocol::codes::response;
use crate::protocol::command::{RemotingCommand, SerializeType};
use crate::transport::connection::{Connection, ConnectionCounts, HangCheck};
use crate::transport::server_requests::{ServerHandlers, ServerRequestHandler};
use crate::transport::tls::Tls;

#[derive(Debug, Clone)]
pub struct TransportConfig {
    pub serialize: SerializeType,
    pub connect_timeout: Duration,
    pub max_frame_len: usize,
    pub max_in_flight: usize,
    /// TLS on every connection.
    pub tls: Option<Tls>,
    /// Every request is signed with these (brokers with authentication on).
    pub credentials: Option<Credentials>,
}

/// One slot per address; its async lock makes concurrent first uses share one connect.
type Slot = Arc<tokio::sync::Mutex<Option<Connection>>>;

pub struct Transport {
    config: TransportConfig,
    slots: Mutex<HashMap<String, Slot>>,
    /// Tells the client instance about each new connection (it heartbeats new brokers at once).
    connected: mpsc::UnboundedSender<String>,
    handlers: ServerHandlers,
    counts: Arc<ConnectionCounts>,
}

impl Transport {
    /// The transport, and the stream of addresses it newly connects to.
    pub fn new(config: TransportConfig) -> (Transport, mpsc::UnboundedReceiver<String>) {
        let (connected, events) = mpsc::unbounded_channel();
        let transport = Transport {
            config,
            slots: Mutex::new(HashMap::new()),
            connected,
            handlers: ServerHandlers::default(),
            counts: Arc::default(),
        };
        (transport, events)
    }

    /// The live connection to `addr`, connecting first if there is none. Waits for another
    /// caller's connect to `addr` only until `deadline`.
    pub async fn connection(&self, addr: &str, deadline: Instant) -> Result<Connection> {
        self.connection_within(addr, deadline, deadline).await
    }

    /// [`Transport::connection`] whose TCP connect must complete by `tcp_by` (a TLS handshake
    /// may take until `deadline`).
    async fn connection_within(
        &self,
        addr: &str,
        tcp_by: Instant,
        deadline: Instant,
    ) -> Result<Connection> {
        let slot = self
            .slots
            .lock()
            .entry(addr.to_string())
            .or_default()
            .clone();
        let Ok(mut slot) = tokio::time::timeout_at(deadline, slot.lock()).await else {
            return Err(Error::new(
                ErrorKind::Connect,
                format!("connect to {addr}: still connecting at the deadline"),
            )
            .with_addr(addr));
        };
        if let Some(conn) = slot.as_ref().filter(|c| c.is_usable()) {
            return Ok(conn.clone());
        }
        let connect_deadline = deadline.min(Instant::now() + self.config.connect_timeout);
        let conn = Connection::connect(
            addr,
            tcp_by.min(connect_deadline),
            connect_deadline,
            &self.config,
            self.handlers.clone(),
            self.counts.clone(),
        )
        .await?;
        *slot = Some(conn.clone());
        let _ = self.connected.send(addr.to_string());
        Ok(conn)
    }

    /// Serves request `code` from servers with `handler` on every connection, present and
    /// future (codes without a handler are answered REQUEST_CODE_NOT_SUPPORTED).
    pub fn register_server_handler(&self, code: i32, handler: ServerRequestHandler) {
        self.handlers.register(code, handler);
    }

    /// Sends a request and waits for its response. A GO_AWAY answer (the server is shutting
    /// down) sends the request once more on a fresh connection, as Java does.
    pub async fn invoke(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        deadline: Instant,
    ) -> Result<RemotingCommand> {
        self.invoke_until(addr, cmd, None, deadline).await
    }

    /// [`Transport::invoke`] that gives up early on a peer that looks hung rather than slow
    /// (see [`Connection::request_until`]); the probe is signed like any request.
    pub async fn invoke_until(
        &self,
        addr: &str,
        mut cmd: RemotingCommand,
        hang_check: Option<HangCheck<'_>>,
        deadline: Instant,
    ) -> Result<RemotingCommand> {
        self.sign(&mut cmd);
        let signed_probe;
        let hang_check = match hang_check {
            Some(check) => {
                signed_probe = move || {
                    let mut probe = (check.probe)();
                    self.sign(&mut probe);
                    probe
                };
                Some(HangCheck {
                    probe: &signed_probe,
                    ..check
                })
            }
            None => None,
        };
        // A TCP connect that outlasts the attempt's share of the budget (its SYNs vanish, as in a
        // partition) fails like an unanswered request, leaving time for a retry elsewhere.
        let tcp_by = hang_check.map_or(deadline, |check| {
            (check.suspect_at + check.probe_timeout).min(deadline)
        });
        let conn = self.connection_within(addr, tcp_by, deadline).await?;
        let response = conn.request_until(&mut cmd, hang_check, deadline).await?;
        if response.code != response::GO_AWAY {
            return Ok(response);
        }
        tracing::debug!(addr, "GO_AWAY: sending again on a new connection");
        let conn = self.connection(addr, deadline).await?;
        conn.request_until(&mut cmd, hang_check, deadline).await
    }

    /// [`Transport::invoke`] for name servers: a request that times out closes its connection,
    /// so that the next request connects again or moves on rather than queueing behind a peer
    /// that stopped answering (Java's `clientCloseSocketIfTimeout`). Not for brokers: a broker
    /// connection carries other sends, which the close would fail (and their retries duplicate).
    pub async fn invoke_closing_on_timeout(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        deadline: Instant,
    ) -> Result<RemotingCommand> {
        let result = self.invoke(addr, cmd, deadline).await;
        if result
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::Timeout)
        {
            self.close(addr);
        }
        result
    }

    /// Sends a oneway request; returns once it is queued to the connection's writer.
    pub async fn invoke_oneway(
        &self,
        addr: &str,
        mut cmd: RemotingCommand,
        deadline: Instant,
    ) -> Result<()> {
        self.sign(&mut cmd);
        self.connection(addr, deadline)
            .await?
            .oneway(cmd, deadline)
            .await
    }

    /// Signs `cmd` when credentials are configured (the last change to its ext fields).
    fn sign(&self, cmd: &mut RemotingCommand) {
        if let Some(credentials) = &self.config.credentials {
            credentials.sign(cmd);
        }
    }

    /// Closes the connection to `addr`, failing what is pending on it.
    pub fn close(&self, addr: &str) {
        if let Some(slot) = self.slots.lock().remove(addr) {
            if let Ok(conn) = slot.try_lock() {
                if let Some(conn) = conn.as_ref() {
                    conn.close("closed by the client");
                }
            }
        }
    }

    /// Whether a live connection to `addr` exists (one being made counts as live).
    pub fn is_connected(&self, addr: &str) -> bool {
        self.slots.lock().get(addr).is_some_and(|slot| {
            slot.try_lock()
                .map(|c| c.as_ref().is_some_and(Connection::is_usable))
                .unwrap_or(true)
        })
    }

    /// Connections opened and lost so far.
    pub fn connection_counts(&self) -> (u64, u64) {
        (
            self.counts.opened.load(Ordering::Relaxed),
            self.counts.lost.load(Ordering::Relaxed),
        )
    }

    pub fn close_all(&self) {
        let addrs: Vec<String> = self.slots.lock().keys().cloned().collect();
        for addr in addrs {
            self.close(&addr);
        }
    }
}
