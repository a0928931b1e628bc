//! One TCP connection as two tasks: a writer that coalesces queued frames into few syscalls, and
//! a reader that matches responses to pending requests by opaque and answers server requests.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::protocol::codes::response;
use crate::protocol::command::{RemotingCommand, SerializeType};

/// Opaques are unique per process, as Java's `RemotingCommand.requestId`.
static NEXT_OPAQUE: AtomicI32 = AtomicI32::new(1);

/// The origin of the `last_frame` clocks.
static CLOCK_ORIGIN: once_cell::sync::Lazy<std::time::Instant> =
    once_cell::sync::Lazy::new(std::time::Instant::now);

fn clock_nanos() -> u64 {
    CLOCK_ORIGIN.elapsed().as_nanos() as u64
}

/// How often expired pending requests are swept (Java's `scanResponseTable` runs every second).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// Frames waiting for the writer; beyond this, `request` waits (the in-flight bound usually
/// applies first).
const WRITE_QUEUE: usize = 4096;

struct Pending {
    reply: oneshot::Sender<Result<RemotingCommand>>,
    deadline: Instant,
}

struct Outgoing {
    frame: Bytes,
    /// Told once the frame is written (oneway requests wait for it).
    written: Option<oneshot::Sender<Result<()>>>,
}

struct Shared {
    addr: String,
    pending: Mutex<HashMap<i32, Pending>>,
    closed: AtomicBool,
    /// Set when the peer announced GO_AWAY: finish what is pending, start nothing new here.
    draining: AtomicBool,
    in_flight: Semaphore,
    /// When the last frame arrived ([`clock_nanos`]): tells a slow peer from a hung one.
    last_frame: AtomicU64,
    /// Flips to true once, on close; the reader and writer tasks stop on it.
    closed_signal: watch::Sender<bool>,
}

impl Shared {
    /// Marks the connection dead and fails everything still waiting on it.
    fn close(&self, reason: &str) {
        self.fail(ErrorKind::Network, reason);
    }

    /// Marks the connection dead and fails everything still waiting on it with `kind`.
    fn fail(&self, kind: ErrorKind, reason: &str) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let pending: Vec<Pending> = self.pending.lock().drain().map(|(_, p)| p).collect();
        if !pending.is_empty() {
            tracing::debug!(addr = %self.addr, count = pending.len(), reason, "failing pending requests");
        }
        for p in pending {
            let _ = p.reply.send(Err(Error::new(
                kind,
                format!("connection to {} closed: {reason}", self.addr),
            )
            .with_addr(self.addr.clone())));
        }
        self.in_flight.close();
        self.closed_signal.send_replace(true);
    }
}

/// A handle to one connection; clones share it. The tasks end when the socket closes or the
/// last handle is dropped.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
    writer: mpsc::Sender<Outgoing>,
    serialize: SerializeType,
    _guard: Arc<DropGuard>,
}

/// Closes the connection when the last handle goes.
struct DropGuard(Arc<Shared>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.close("connection handle dropped");
    }
}

impl Connection {
    /// Connects to `addr` before `deadline`, with TCP_NODELAY.
    pub async fn connect(
        addr: &str,
        deadline: Instant,
        serialize: SerializeType,
        max_frame_len: usize,
        max_in_flight: usize,
    ) -> Result<Connection> {
        let stream = match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                return Err(
                    Error::new(ErrorKind::Connect, format!("connect to {addr}: {e}"))
                        .with_addr(addr),
                );
            }
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Connect,
                    format!("connect to {addr}: timed out"),
                )
                .with_addr(addr));
            }
        };
        stream.set_nodelay(true).map_err(|e| {
            Error::new(
                ErrorKind::Connect,
                format!("set TCP_NODELAY on {addr}: {e}"),
            )
        })?;
        let (read, write) = stream.into_split();
        let shared = Arc::new(Shared {
            addr: addr.to_string(),
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            in_flight: Semaphore::new(max_in_flight),
            last_frame: AtomicU64::new(clock_nanos()),
            closed_signal: watch::Sender::new(false),
        });
        let (writer, queue) = mpsc::channel(WRITE_QUEUE);
        tokio::spawn(write_loop(shared.clone(), write, queue));
        tokio::spawn(read_loop(
            shared.clone(),
            read,
            writer.downgrade(),
            serialize,
            max_frame_len,
        ));
        tokio::spawn(sweep_loop(Arc::downgrade(&shared)));
        tracing::debug!(addr, "connected");
        Ok(Connection {
            _guard: Arc::new(DropGuard(shared.clone())),
            shared,
            writer,
            serialize,
        })
    }

    /// Whether new requests may still go out on this connection.
    pub fn is_usable(&self) -> bool {
        !self.shared.closed.load(Ordering::Acquire) && !self.shared.draining.load(Ordering::Acquire)
    }

    pub fn close(&self, reason: &str) {
        self.shared.close(reason);
    }

    #[cfg(test)]
    pub(super) fn pending_len(&self) -> usize {
        self.shared.pending.lock().len()
    }

    /// Sends `cmd` and waits for its response until `deadline`.
    pub async fn request(
        &self,
        cmd: RemotingCommand,
        deadline: Instant,
    ) -> Result<RemotingCommand> {
        self.request_until(cmd, None, deadline).await
    }

    /// Like [`Connection::request`], but gives up already at `silence_limit` when nothing at all
    /// has arrived on the connection since the request went out: the peer looks hung rather than
    /// slow, and waiting longer would only eat the time of a retry elsewhere. A peer that keeps
    /// answering other requests is waited for until `deadline`, so a busy broker is not sent
    /// the same message twice.
    pub async fn request_until(
        &self,
        mut cmd: RemotingCommand,
        silence_limit: Option<Instant>,
        deadline: Instant,
    ) -> Result<RemotingCommand> {
        let addr = &self.shared.addr;
        let _permit = match tokio::time::timeout_at(deadline, self.shared.in_flight.acquire()).await
        {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(self.closed_error()),
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::TooManyRequests,
                    format!("too many requests in flight to {addr}"),
                )
                .with_addr(addr.clone()));
            }
        };
        let opaque = NEXT_OPAQUE.fetch_add(1, Ordering::Relaxed);
        cmd.opaque = opaque;
        let (reply, response) = oneshot::channel();
        self.shared
            .pending
            .lock()
            .insert(opaque, Pending { reply, deadline });
        // A close that raced with the insert would have missed this entry.
        if self.shared.closed.load(Ordering::Acquire) {
            self.shared.pending.lock().remove(&opaque);
            return Err(self.closed_error());
        }
        let sent_at = clock_nanos();
        if let Err(e) = self.enqueue(&cmd, None, deadline).await {
            self.shared.pending.lock().remove(&opaque);
            return Err(e);
        }
        tokio::pin!(response);
        if let Some(limit) = silence_limit.filter(|limit| *limit < deadline) {
            if let Ok(answer) = tokio::time::timeout_at(limit, &mut response).await {
                return answer.unwrap_or_else(|_| Err(self.closed_error()));
            }
            if self.shared.last_frame.load(Ordering::Acquire) < sent_at {
                self.shared.pending.lock().remove(&opaque);
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "{addr} sent nothing since request code {} went out",
                        cmd.code
                    ),
                )
                .with_addr(addr.clone()));
            }
        }
        match tokio::time::timeout_at(deadline, response).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => {
                self.shared.pending.lock().remove(&opaque);
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "no response from {addr} to request code {} in time",
                        cmd.code
                    ),
                )
                .with_addr(addr.clone()))
            }
        }
    }

    /// Sends `cmd` marked oneway; returns once it is written to the socket.
    pub async fn oneway(&self, mut cmd: RemotingCommand, deadline: Instant) -> Result<()> {
        cmd.mark_oneway();
        cmd.opaque = NEXT_OPAQUE.fetch_add(1, Ordering::Relaxed);
        let (written, done) = oneshot::channel();
        self.enqueue(&cmd, Some(written), deadline).await?;
        match tokio::time::timeout_at(deadline, done).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("oneway request to {} not written in time", self.shared.addr),
            )
            .with_addr(self.shared.addr.clone())),
        }
    }

    async fn enqueue(
        &self,
        cmd: &RemotingCommand,
        written: Option<oneshot::Sender<Result<()>>>,
        deadline: Instant,
    ) -> Result<()> {
        let mut frame = BytesMut::new();
        cmd.encode(self.serialize, &mut frame);
        let outgoing = Outgoing {
            frame: frame.freeze(),
            written,
        };
        match tokio::time::timeout_at(deadline, self.writer.send(outgoing)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "write queue to {} full until the deadline",
                    self.shared.addr
                ),
            )
            .with_addr(self.shared.addr.clone())),
        }
    }

    fn closed_error(&self) -> Error {
        Error::new(
            ErrorKind::Network,
            format!("connection to {} is closed", self.shared.addr),
        )
        .with_addr(self.shared.addr.clone())
    }
}

async fn write_loop(
    shared: Arc<Shared>,
    mut socket: OwnedWriteHalf,
    mut queue: mpsc::Receiver<Outgoing>,
) {
    let mut batch = Vec::new();
    let mut notify = Vec::new();
    let mut closed = shared.closed_signal.subscribe();
    loop {
        let first = tokio::select! {
            next = queue.recv() => match next {
                Some(first) => first,
                None => break,
            },
            _ = closed.wait_for(|closed| *closed) => break,
        };
        // Coalesce whatever else is queued into one write.
        let mut next = Some(first);
        while let Some(out) = next {
            batch.extend_from_slice(&out.frame);
            notify.extend(out.written);
            next = if batch.len() < 256 * 1024 {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        let result = socket.write_all(&batch).await;
        batch.clear();
        let failed = result.is_err();
        for tx in notify.drain(..) {
            let _ = tx.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(Error::new(
                    ErrorKind::Network,
                    format!("write to {}: {e}", shared.addr),
                )
                .with_addr(shared.addr.clone())),
            });
        }
        if failed {
            shared.close("write failed");
            break;
        }
    }
    let _ = socket.shutdown().await;
}

async fn read_loop(
    shared: Arc<Shared>,
    mut socket: OwnedReadHalf,
    writer: mpsc::WeakSender<Outgoing>,
    serialize: SerializeType,
    max_frame_len: usize,
) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut closed = shared.closed_signal.subscribe();
    let reason = loop {
        loop {
            let frame = RemotingCommand::decode_frame(&mut buf, max_frame_len);
            if let Ok(Some(_)) = &frame {
                shared.last_frame.store(clock_nanos(), Ordering::Release);
            }
            match frame {
                Ok(Some(cmd)) if cmd.is_response() => complete(&shared, cmd),
                Ok(Some(cmd)) => answer_server_request(&shared, &writer, serialize, cmd),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(addr = %shared.addr, error = %e, "undecodable frame; closing");
                    shared.fail(
                        ErrorKind::Protocol,
                        &format!("undecodable frame: {}", e.message()),
                    );
                    return;
                }
            }
        }
        tokio::select! {
            read = socket.read_buf(&mut buf) => match read {
                Ok(0) => break "closed by peer",
                Ok(_) => {}
                Err(_) => break "read failed",
            },
            _ = closed.wait_for(|closed| *closed) => return,
        }
    };
    shared.close(reason);
}

fn complete(shared: &Shared, cmd: RemotingCommand) {
    if cmd.code == response::GO_AWAY {
        shared.draining.store(true, Ordering::Release);
    }
    match shared.pending.lock().remove(&cmd.opaque) {
        Some(pending) => {
            let _ = pending.reply.send(Ok(cmd));
        }
        None => {
            tracing::debug!(addr = %shared.addr, opaque = cmd.opaque, "response to no pending request")
        }
    }
}

/// This producer serves no broker-initiated request yet: answer REQUEST_CODE_NOT_SUPPORTED
/// (unless oneway), as Java does for codes without a processor.
fn answer_server_request(
    shared: &Shared,
    writer: &mpsc::WeakSender<Outgoing>,
    serialize: SerializeType,
    cmd: RemotingCommand,
) {
    tracing::debug!(addr = %shared.addr, code = cmd.code, "request from server not supported");
    if cmd.is_oneway() {
        return;
    }
    let Some(writer) = writer.upgrade() else {
        return;
    };
    let answer = RemotingCommand::response(
        response::REQUEST_CODE_NOT_SUPPORTED,
        cmd.opaque,
        Some(format!(
            "request code {} not supported by this producer",
            cmd.code
        )),
    );
    let mut frame = BytesMut::new();
    answer.encode(serialize, &mut frame);
    let _ = writer.try_send(Outgoing {
        frame: frame.freeze(),
        written: None,
    });
}

/// Drops pending entries whose deadline passed or whose caller went away, so a map entry
/// never outlives its request.
async fn sweep_loop(shared: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared.closed.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        let expired: Vec<Pending> = {
            let mut pending = shared.pending.lock();
            let keys: Vec<i32> = pending
                .iter()
                .filter(|(_, p)| p.deadline <= now || p.reply.is_closed())
                .map(|(k, _)| *k)
                .collect();
            keys.iter().filter_map(|k| pending.remove(k)).collect()
        };
        for p in expired {
            let _ = p.reply.send(Err(Error::new(
                ErrorKind::Timeout,
                format!("request to {} expired", shared.addr),
            )
            .with_addr(shared.addr.clone())));
        }
    }
}
