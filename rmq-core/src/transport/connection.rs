//! One TCP connection as two tasks: a writer that sends queued frames with few vectored writes
//! (bodies are never copied), and a reader that matches responses to pending requests by opaque
//! and answers server requests.

use std::collections::HashMap;
use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, SemaphorePermit, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::protocol::codes::response;
use crate::protocol::command::{Frame, RemotingCommand, SerializeType};
use crate::transport::pool::TransportConfig;
use crate::transport::server_requests::ServerHandlers;

/// The two directions of a socket, plain or TLS.
type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Opaques are unique per process, as Java's `RemotingCommand.requestId`.
static NEXT_OPAQUE: AtomicI32 = AtomicI32::new(1);

/// The origin of the `last_frame` clocks.
static CLOCK_ORIGIN: once_cell::sync::Lazy<std::time::Instant> =
    once_cell::sync::Lazy::new(std::time::Instant::now);

/// Nanoseconds since [`CLOCK_ORIGIN`], never 0 (which stands for "never").
fn clock_nanos() -> u64 {
    CLOCK_ORIGIN.elapsed().as_nanos() as u64 + 1
}

/// How often expired pending requests are swept (Java's `scanResponseTable` runs every second).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// How long a closing connection keeps writing the frames still queued to it.
const FLUSH_ON_CLOSE: Duration = Duration::from_secs(1);
/// Frames waiting for the writer; beyond this, `request` waits (the in-flight bound usually
/// applies first).
const WRITE_QUEUE: usize = 4096;
/// Slices per vectored write at most (Linux's IOV_MAX); the rest goes in the next write.
const MAX_SLICES: usize = 1024;

struct Pending {
    reply: oneshot::Sender<Result<RemotingCommand>>,
    deadline: Instant,
}

/// A request written to the connection, waiting for its response.
struct Awaiting<'a> {
    opaque: i32,
    response: oneshot::Receiver<Result<RemotingCommand>>,
    _permit: SemaphorePermit<'a>,
}

/// How [`Connection::request_until`] tells a slow peer from a hung one.
#[derive(Clone, Copy)]
pub struct HangCheck<'a> {
    /// From this instant on, a missing response makes the peer suspect.
    pub suspect_at: Instant,
    /// How long a suspect peer gets to answer the probe.
    pub probe_timeout: Duration,
    /// Makes the probe: a cheap request the peer answers on another worker than the request
    /// being checked, so that a slow answer to that request does not delay it.
    pub probe: &'a (dyn Fn() -> RemotingCommand + Sync),
}

/// Connections of one transport opened, and lost (closed by the peer, a failed read or write,
/// an undecodable frame, or given up as hung), for the producer's statistics.
#[derive(Default)]
pub struct ConnectionCounts {
    pub opened: AtomicU64,
    pub lost: AtomicU64,
}

struct Shared {
    addr: String,
    counts: Arc<ConnectionCounts>,
    pending: Mutex<HashMap<i32, Pending>>,
    closed: AtomicBool,
    /// Why it closed, for requests that find it closed (e.g. the TLS alert of a server that
    /// refused the client's certificate).
    close_reason: OnceLock<String>,
    /// Set when the peer announced GO_AWAY or looked hung: finish what is pending, start
    /// nothing new here.
    draining: AtomicBool,
    /// Set when a request was given up on this peer as hung (a partition, a frozen host). Once
    /// nothing is pending any more, the connection is reset rather than closed: the kernel then
    /// drops what it still holds for the peer (requests whose callers were told to retry
    /// elsewhere) instead of delivering it when the network heals, which would store them twice.
    hung: AtomicBool,
    in_flight: Semaphore,
    /// When the last frame arrived ([`clock_nanos`]; 0: none yet): a peer heard from lately is
    /// not hung.
    last_frame: AtomicU64,
    /// Flips to true once, on close; the reader and writer tasks stop on it.
    closed_signal: watch::Sender<bool>,
}

impl Shared {
    /// Marks the connection dead and fails everything still waiting on it.
    fn close(&self, reason: &str) {
        self.fail(ErrorKind::Network, reason);
    }

    fn lose_network(&self, reason: &str) {
        self.lose(ErrorKind::Network, reason);
    }

    /// [`Shared::fail`] for a connection the client did not choose to close.
    fn lose(&self, kind: ErrorKind, reason: &str) {
        if self.fail(kind, reason) {
            self.counts.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Marks the connection dead and fails everything still waiting on it with `kind`; false
    /// if it was dead already.
    fn fail(&self, kind: ErrorKind, reason: &str) -> bool {
        // Before the flag, so that whoever sees it closed also finds why.
        let _ = self.close_reason.set(reason.to_string());
        if self.closed.swap(true, Ordering::AcqRel) {
            return false;
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
        true
    }

    /// Forgets the pending request `opaque` (answered, timed out or given up) and returns it;
    /// the last one gone from a hung connection resets it.
    fn settle(&self, opaque: i32) -> Option<Pending> {
        let settled = self.pending.lock().remove(&opaque);
        self.reset_if_hung_and_idle();
        settled
    }

    fn reset_if_hung_and_idle(&self) {
        if self.hung.load(Ordering::Acquire) && self.pending.lock().is_empty() {
            self.lose_network("given up as hung");
        }
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
    /// Connects to `addr` (TCP by `tcp_deadline`, all of it by `deadline`), with TCP_NODELAY
    /// (and TLS when configured); requests from the server go to `handlers`.
    pub async fn connect(
        addr: &str,
        tcp_deadline: Instant,
        deadline: Instant,
        config: &TransportConfig,
        handlers: ServerHandlers,
        counts: Arc<ConnectionCounts>,
    ) -> Result<Connection> {
        let (serialize, max_frame_len) = (config.serialize, config.max_frame_len);
        let stream = match tokio::time::timeout_at(tcp_deadline, TcpStream::connect(addr)).await {
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
        // A second descriptor of the socket, for the writer to reset it however it is wrapped.
        let resetter = socket2::SockRef::from(&stream).try_clone().map_err(|e| {
            Error::new(
                ErrorKind::Connect,
                format!("duplicate socket of {addr}: {e}"),
            )
            .with_addr(addr)
        })?;
        let (read, write): (Reader, Writer) = match &config.tls {
            Some(tls) => {
                let secured = tokio::time::timeout_at(deadline, tls.handshake(addr, stream))
                    .await
                    .map_err(|_| {
                        Error::new(
                            ErrorKind::Connect,
                            format!("TLS handshake with {addr}: timed out"),
                        )
                        .with_addr(addr)
                    })??;
                let (read, write) = tokio::io::split(secured);
                (Box::new(read), Box::new(write))
            }
            None => {
                let (read, write) = stream.into_split();
                (Box::new(read), Box::new(write))
            }
        };
        counts.opened.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            addr: addr.to_string(),
            counts,
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            close_reason: OnceLock::new(),
            draining: AtomicBool::new(false),
            hung: AtomicBool::new(false),
            in_flight: Semaphore::new(config.max_in_flight),
            last_frame: AtomicU64::new(0),
            closed_signal: watch::Sender::new(false),
        });
        let (writer, queue) = mpsc::channel(WRITE_QUEUE);
        tokio::spawn(write_loop(shared.clone(), write, resetter, queue));
        tokio::spawn(read_loop(
            shared.clone(),
            read,
            writer.downgrade(),
            serialize,
            max_frame_len,
            handlers,
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
    pub(super) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    #[cfg(test)]
    pub(super) fn pending_len(&self) -> usize {
        self.shared.pending.lock().len()
    }

    /// Sends `cmd` and waits for its response until `deadline`.
    pub async fn request(
        &self,
        mut cmd: RemotingCommand,
        deadline: Instant,
    ) -> Result<RemotingCommand> {
        let awaiting = self.start_request(&mut cmd, deadline).await?;
        self.await_response(awaiting, cmd.code, deadline).await
    }

    /// Like [`Connection::request`], but tells a slow peer from a hung one: when the response
    /// is still missing at `hang_check.suspect_at` and nothing arrived on the connection lately,
    /// the connection is probed with `hang_check.probe`. A peer that answers the probe (or
    /// sends anything else) is slow, and is waited for until `deadline`, so that a broker still
    /// storing a message is not sent it again elsewhere; one that answers nothing within the
    /// probe timeout is hung, and the request fails with TIMEOUT at once.
    /// `cmd` is borrowed (and given a fresh opaque), so a caller can send it again without a copy.
    pub async fn request_until(
        &self,
        cmd: &mut RemotingCommand,
        hang_check: Option<HangCheck<'_>>,
        deadline: Instant,
    ) -> Result<RemotingCommand> {
        let mut awaiting = self.start_request(cmd, deadline).await?;
        let Some(check) = hang_check.filter(|check| check.suspect_at < deadline) else {
            return self.await_response(awaiting, cmd.code, deadline).await;
        };
        if let Ok(answer) = tokio::time::timeout_at(check.suspect_at, &mut awaiting.response).await
        {
            return answer.unwrap_or_else(|_| Err(self.closed_error()));
        }
        if !self.heard_from_within(check.probe_timeout) {
            let probe_sent = clock_nanos();
            let probe_deadline = (Instant::now() + check.probe_timeout).min(deadline);
            tokio::select! {
                answer = &mut awaiting.response => {
                    return answer.unwrap_or_else(|_| Err(self.closed_error()));
                }
                probed = self.request((check.probe)(), probe_deadline) => {
                    // A closed connection fails the request itself, with NETWORK, just below.
                    let silent = matches!(&probed, Err(e) if e.kind() != ErrorKind::Network)
                        && self.shared.last_frame.load(Ordering::Acquire) < probe_sent;
                    if silent {
                        return Err(self.hung(awaiting.opaque, cmd.code, check.probe_timeout));
                    }
                }
            }
        }
        self.await_response(awaiting, cmd.code, deadline).await
    }

    /// Whether a frame arrived on the connection within the last `window`.
    fn heard_from_within(&self, window: Duration) -> bool {
        let last = self.shared.last_frame.load(Ordering::Acquire);
        last != 0 && clock_nanos().saturating_sub(last) < window.as_nanos() as u64
    }

    /// Gives up the request `opaque` on a peer that answered neither it nor a probe.
    ///
    /// The connection stays open: closing it would fail every other request pending on it with
    /// NETWORK at once, and their callers would send those messages again elsewhere, even when
    /// the probe only lost a race with a busy heartbeat executor of a live broker. Each of those
    /// requests reaches its own verdict instead. But it drains: new requests go out on a fresh
    /// connection, since a partition leaves this one with unacknowledged data whose TCP
    /// retransmissions back off, so that after the network heals it could stay silent for tens
    /// of seconds more, while a new connection works at once. And once its last pending request
    /// is settled, it is reset (see `Shared::hung`).
    fn hung(&self, opaque: i32, code: i32, probe_timeout: Duration) -> Error {
        self.shared.draining.store(true, Ordering::Release);
        self.shared.hung.store(true, Ordering::Release);
        self.shared.settle(opaque);
        let addr = &self.shared.addr;
        Error::new(
            ErrorKind::Timeout,
            format!(
                "{addr} looks hung: no response to request code {code}, and nothing in answer to a probe within {} ms",
                probe_timeout.as_millis()
            ),
        )
        .with_addr(addr.clone())
    }

    /// Takes an in-flight permit, registers `cmd` under a fresh opaque and queues it.
    async fn start_request(
        &self,
        cmd: &mut RemotingCommand,
        deadline: Instant,
    ) -> Result<Awaiting<'_>> {
        let addr = &self.shared.addr;
        let permit = match tokio::time::timeout_at(deadline, self.shared.in_flight.acquire()).await
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
            self.shared.settle(opaque);
            return Err(self.closed_error());
        }
        if let Err(e) = self.enqueue(cmd, Some(opaque), deadline).await {
            self.shared.settle(opaque);
            return Err(e);
        }
        Ok(Awaiting {
            opaque,
            response,
            _permit: permit,
        })
    }

    /// Waits for the response of a started request until `deadline`.
    async fn await_response(
        &self,
        awaiting: Awaiting<'_>,
        code: i32,
        deadline: Instant,
    ) -> Result<RemotingCommand> {
        match tokio::time::timeout_at(deadline, awaiting.response).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => {
                self.shared.settle(awaiting.opaque);
                let addr = &self.shared.addr;
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!("no response from {addr} to request code {code} in time"),
                )
                .with_addr(addr.clone()))
            }
        }
    }

    /// Sends `cmd` marked oneway; returns once it is queued to the writer, as Java's
    /// `invokeOneway` returns once `writeAndFlush` is issued. A later write failure closes the
    /// connection (and is logged); queued oneway frames are still flushed when the connection closes.
    pub async fn oneway(&self, mut cmd: RemotingCommand, deadline: Instant) -> Result<()> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        cmd.mark_oneway();
        cmd.opaque = NEXT_OPAQUE.fetch_add(1, Ordering::Relaxed);
        self.enqueue(&cmd, None, deadline).await
    }

    /// Queues `cmd` for the writer; `awaited` is its opaque when its caller waits for an answer.
    async fn enqueue(
        &self,
        cmd: &RemotingCommand,
        awaited: Option<i32>,
        deadline: Instant,
    ) -> Result<()> {
        let outgoing = Outgoing {
            frame: cmd.to_frame(self.serialize),
            awaited,
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
        let reason = match self.shared.close_reason.get() {
            Some(reason) => format!(" ({reason})"),
            None => String::new(),
        };
        Error::new(
            ErrorKind::Network,
            format!("connection to {} is closed{reason}", self.shared.addr),
        )
        .with_addr(self.shared.addr.clone())
    }
}

/// A frame for the writer. `awaited`: the opaque of a request whose caller waits for the
/// answer; such a frame is written only while its caller still waits (is in `pending`), so a
/// request reported failed or timed out never reaches the peer afterwards.
struct Outgoing {
    frame: Frame,
    awaited: Option<i32>,
}

/// Frames taken from the queue for one write.
#[derive(Default)]
struct Batch {
    frames: Vec<Outgoing>,
}

impl Batch {
    /// Takes `first` and whatever else is queued (up to 256 KiB), drops the requests whose
    /// callers were answered already (one lock of `pending` per batch), and joins the rest.
    fn fill(&mut self, first: Outgoing, queue: &mut mpsc::Receiver<Outgoing>, shared: &Shared) {
        let mut len = 0;
        let mut next = Some(first);
        while let Some(outgoing) = next {
            len += outgoing.frame.len();
            self.frames.push(outgoing);
            next = if len < 256 * 1024 {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        self.keep_unanswered(shared);
    }

    fn keep_unanswered(&mut self, shared: &Shared) {
        if self.frames.iter().any(|f| f.awaited.is_some()) {
            let pending = shared.pending.lock();
            self.frames
                .retain(|f| f.awaited.is_none_or(|opaque| pending.contains_key(&opaque)));
        }
    }

    fn len(&self) -> usize {
        self.frames.iter().map(|f| f.frame.len()).sum()
    }

    /// The batch's bytes after the first `skip`, as the slices of one vectored write.
    fn slices(&self, mut skip: usize) -> Vec<IoSlice<'_>> {
        let parts = self
            .frames
            .iter()
            .flat_map(|f| [&f.frame.head, &f.frame.body]);
        let mut slices = Vec::with_capacity((2 * self.frames.len()).min(MAX_SLICES));
        for part in parts {
            if skip >= part.len() {
                skip -= part.len(); // also passes over empty parts
                continue;
            }
            slices.push(IoSlice::new(&part[skip..]));
            skip = 0;
            if slices.len() == MAX_SLICES {
                break;
            }
        }
        slices
    }

    /// After a close cut the write of this batch at `written` bytes: keeps what may still go
    /// out, the rest of a oneway frame cut in the middle and the oneway frames after it.
    /// `false` when a request frame was cut: finishing it would send a request whose caller
    /// was already failed, and nothing written after a partial frame would make sense.
    fn keep_unwritten(&mut self, written: usize, shared: &Shared) -> bool {
        let mut start = 0;
        let mut rest = Vec::new();
        for outgoing in self.frames.drain(..) {
            let end = start + outgoing.frame.len();
            if start >= written {
                rest.push(outgoing);
            } else if end > written {
                if outgoing.awaited.is_some() {
                    return false;
                }
                rest.push(Outgoing {
                    frame: outgoing.frame.skip(written - start),
                    awaited: None,
                });
            }
            start = end;
        }
        self.frames = rest;
        self.keep_unanswered(shared);
        true
    }
}

async fn write_loop(
    shared: Arc<Shared>,
    mut socket: Writer,
    resetter: socket2::Socket,
    mut queue: mpsc::Receiver<Outgoing>,
) {
    let mut batch = Batch::default();
    let mut closed = shared.closed_signal.subscribe();
    let mut cut_batch = false;
    loop {
        let first = tokio::select! {
            next = queue.recv() => match next {
                Some(first) => first,
                None => break,
            },
            _ = closed.wait_for(|closed| *closed) => break,
        };
        batch.fill(first, &mut queue, &shared);
        match write_until_closed(&shared, &mut socket, &batch, &mut closed).await {
            Ok(written) if written == batch.len() => batch.frames.clear(),
            Ok(written) => {
                if !batch.keep_unwritten(written, &shared) {
                    return end_writing(&shared, &mut socket, resetter).await;
                }
                cut_batch = true;
                break;
            }
            Err(e) => {
                shared.lose_network(&format!("write failed: {e}"));
                return end_writing(&shared, &mut socket, resetter).await;
            }
        }
    }
    // Oneway requests returned once queued: flush them, within a bound. The close failed every
    // pending request, so no request frame goes out any more. A hung peer gets nothing more.
    queue.close();
    if shared.hung.load(Ordering::Acquire) {
        return end_writing(&shared, &mut socket, resetter).await;
    }
    let flush = async {
        if cut_batch && write_batch(&shared, &mut socket, &batch).await.is_err() {
            return;
        }
        while let Ok(first) = queue.try_recv() {
            batch.frames.clear();
            batch.fill(first, &mut queue, &shared);
            if write_batch(&shared, &mut socket, &batch).await.is_err() {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(FLUSH_ON_CLOSE, flush).await;
    end_writing(&shared, &mut socket, resetter).await;
}

/// Ends the writing direction: an orderly shutdown, or, on a connection given up as hung, a
/// reset once the socket's last descriptor closes (SO_LINGER 0), which discards the bytes the
/// kernel still holds for the peer.
async fn end_writing(shared: &Shared, socket: &mut Writer, resetter: socket2::Socket) {
    if shared.hung.load(Ordering::Acquire) {
        if let Err(e) = resetter.set_linger(Some(Duration::ZERO)) {
            tracing::debug!(addr = %shared.addr, error = %e, "could not arm the reset of a hung connection");
        }
    } else {
        let _ = socket.shutdown().await;
    }
}

/// Writes `batch` until done or until the connection closes (a peer that does not read would
/// otherwise keep requests queued in this write, to be sent after their callers were failed).
/// Returns how much was written.
async fn write_until_closed(
    shared: &Shared,
    socket: &mut Writer,
    batch: &Batch,
    closed: &mut watch::Receiver<bool>,
) -> std::io::Result<usize> {
    let (mut written, len) = (0, batch.len());
    while written < len {
        let slices = batch.slices(written);
        // `write_vectored` is cancel safe: when the close wins, nothing of this call was written.
        let result = tokio::select! {
            biased;
            _ = closed.wait_for(|closed| *closed) => return Ok(written),
            result = socket.write_vectored(&slices) => result,
        };
        written += wrote(shared, result)?;
    }
    Ok(written)
}

/// Writes the whole `batch`, whatever happens to the connection meanwhile.
async fn write_batch(shared: &Shared, socket: &mut Writer, batch: &Batch) -> std::io::Result<()> {
    let (mut written, len) = (0, batch.len());
    while written < len {
        let result = socket.write_vectored(&batch.slices(written)).await;
        written += wrote(shared, result)?;
    }
    Ok(())
}

/// How much one write wrote; nothing written is an error, as `write_all` has it.
fn wrote(shared: &Shared, result: std::io::Result<usize>) -> std::io::Result<usize> {
    match result {
        Ok(0) => Err(write_failed(shared, std::io::ErrorKind::WriteZero.into())),
        Ok(n) => Ok(n),
        Err(e) => Err(write_failed(shared, e)),
    }
}

fn write_failed(shared: &Shared, e: std::io::Error) -> std::io::Error {
    tracing::warn!(addr = %shared.addr, error = %e, "write failed; closing");
    e
}

async fn read_loop(
    shared: Arc<Shared>,
    mut socket: Reader,
    writer: mpsc::WeakSender<Outgoing>,
    serialize: SerializeType,
    max_frame_len: usize,
    handlers: ServerHandlers,
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
                Ok(Some(cmd)) => answer_server_request(&shared, &writer, serialize, &handlers, cmd),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(addr = %shared.addr, error = %e, "undecodable frame; closing");
                    shared.lose(
                        ErrorKind::Protocol,
                        &format!("undecodable frame: {}", e.message()),
                    );
                    return;
                }
            }
        }
        tokio::select! {
            read = socket.read_buf(&mut buf) => match read {
                Ok(0) => break "closed by peer".to_string(),
                Ok(_) => {}
                // Over TLS this names the server's alert, e.g. a client certificate it requires.
                Err(e) => break format!("read failed: {e}"),
            },
            _ = closed.wait_for(|closed| *closed) => return,
        }
    };
    shared.lose_network(&reason);
}

fn complete(shared: &Shared, cmd: RemotingCommand) {
    if cmd.code == response::GO_AWAY {
        shared.draining.store(true, Ordering::Release);
    }
    match shared.settle(cmd.opaque) {
        Some(pending) => {
            let _ = pending.reply.send(Ok(cmd));
        }
        None => {
            tracing::debug!(addr = %shared.addr, opaque = cmd.opaque, "response to no pending request")
        }
    }
}

/// Hands a request from the server to its registered handler; codes without one are answered
/// REQUEST_CODE_NOT_SUPPORTED, as Java does for codes without a processor. Oneway requests get
/// no answer either way.
fn answer_server_request(
    shared: &Shared,
    writer: &mpsc::WeakSender<Outgoing>,
    serialize: SerializeType,
    handlers: &ServerHandlers,
    cmd: RemotingCommand,
) {
    let oneway = cmd.is_oneway();
    let opaque = cmd.opaque;
    let code = cmd.code;
    let answer = match handlers.get(code) {
        Some(handler) => handler(&shared.addr, cmd),
        None => {
            tracing::debug!(addr = %shared.addr, code, "request from server not supported");
            Some(RemotingCommand::response(
                response::REQUEST_CODE_NOT_SUPPORTED,
                opaque,
                Some(format!(
                    "request code {code} not supported by this producer"
                )),
            ))
        }
    };
    let Some(mut answer) = answer.filter(|_| !oneway) else {
        return;
    };
    let Some(writer) = writer.upgrade() else {
        return;
    };
    answer.opaque = opaque;
    let _ = writer.try_send(Outgoing {
        frame: answer.to_frame(serialize),
        awaited: None,
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
        if !expired.is_empty() {
            shared.reset_if_hung_and_idle();
        }
        for p in expired {
            let _ = p.reply.send(Err(Error::new(
                ErrorKind::Timeout,
                format!("request to {} expired", shared.addr),
            )
            .with_addr(shared.addr.clone())));
        }
    }
}
