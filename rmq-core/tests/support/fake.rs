//! In-process fakes for the faults a real cluster cannot show on demand: a name server that
//! stops answering, a silent peer, a black-holed address, a broker that answers sends late; and
//! a broker that answers every request SUCCESS, to count the heartbeats it gets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use rmq_core::protocol::codes::request::{self, GET_ROUTEINFO_BY_TOPIC, HEART_BEAT};
use rmq_core::protocol::codes::response::SUCCESS;
use rmq_core::protocol::command::{DEFAULT_MAX_FRAME_LEN, RemotingCommand, SerializeType};
use rmq_core::protocol::message::{decode_properties, property};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// A response and how long to hold it back.
type Reply = (RemotingCommand, Duration);

fn at_once(reply: RemotingCommand) -> Option<Reply> {
    Some((reply, Duration::ZERO))
}

/// Serves every connection with `answer` (None: no answer) until the peer closes. Requests are
/// answered independently: one held back does not delay the next.
async fn serve<F>(listener: TcpListener, accepted: Arc<AtomicUsize>, answer: F)
where
    F: Fn(&RemotingCommand) -> Option<Reply> + Clone + Send + 'static,
{
    while let Ok((socket, _)) = listener.accept().await {
        accepted.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(serve_connection(socket, answer.clone()));
    }
}

async fn serve_connection<F>(socket: TcpStream, answer: F)
where
    F: Fn(&RemotingCommand) -> Option<Reply>,
{
    let (mut reader, writer) = socket.into_split();
    let writer = Arc::new(tokio::sync::Mutex::new(writer));
    let mut buf = BytesMut::new();
    loop {
        while let Ok(Some(cmd)) = RemotingCommand::decode_frame(&mut buf, DEFAULT_MAX_FRAME_LEN) {
            if cmd.is_oneway() || cmd.is_response() {
                continue;
            }
            let Some((mut reply, delay)) = answer(&cmd) else {
                continue;
            };
            reply.opaque = cmd.opaque;
            let writer = writer.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let mut frame = BytesMut::new();
                reply.encode(SerializeType::Json, &mut frame);
                let _ = writer.lock().await.write_all(&frame).await;
            });
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

/// A peer that accepts connections and reads, but never answers (a frozen host).
pub struct SilentServer {
    pub addr: String,
    pub accepted: Arc<AtomicUsize>,
}

impl SilentServer {
    pub async fn start() -> SilentServer {
        let (listener, addr) = listener().await;
        let accepted = Arc::new(AtomicUsize::new(0));
        tokio::spawn(serve(listener, accepted.clone(), |_| None));
        SilentServer { addr, accepted }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// A name server whose every route names one broker (4 writable queues), or several with
/// `start_with`; `hang` makes it stop answering, its connections staying open.
pub struct FakeNameServer {
    pub addr: String,
    hung: Arc<AtomicBool>,
    lookups: Arc<AtomicUsize>,
}

impl FakeNameServer {
    pub async fn start(broker_addr: &str) -> FakeNameServer {
        Self::start_with(&[("fake-broker", broker_addr)]).await
    }

    /// Routes that name each (broker name, address) with 4 writable queues.
    pub async fn start_with(brokers: &[(&str, &str)]) -> FakeNameServer {
        let (listener, addr) = listener().await;
        let hung = Arc::new(AtomicBool::new(false));
        let lookups = Arc::new(AtomicUsize::new(0));
        let route = serde_json::json!({
            "brokerDatas": brokers.iter().map(|(name, addr)| serde_json::json!({
                "brokerAddrs": {"0": addr}, "brokerName": name, "cluster": "FakeCluster"
            })).collect::<Vec<_>>(),
            "queueDatas": brokers.iter().map(|(name, _)| serde_json::json!({
                "brokerName": name, "perm": 6, "readQueueNums": 4, "topicSysFlag": 0, "writeQueueNums": 4
            })).collect::<Vec<_>>(),
        });
        let route = Bytes::from(route.to_string());
        let (is_hung, counted) = (hung.clone(), lookups.clone());
        let answer = move |cmd: &RemotingCommand| {
            if is_hung.load(Ordering::SeqCst) {
                return None;
            }
            if cmd.code == GET_ROUTEINFO_BY_TOPIC {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            at_once(RemotingCommand::response(SUCCESS, 0, None).with_body(route.clone()))
        };
        tokio::spawn(serve(listener, Arc::new(AtomicUsize::new(0)), answer));
        FakeNameServer {
            addr,
            hung,
            lookups,
        }
    }

    pub fn hang(&self) {
        self.hung.store(true, Ordering::SeqCst);
    }

    /// Route lookups answered so far.
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
}

/// A broker that answers every request SUCCESS and notes when each heartbeat came.
pub struct FakeBroker {
    pub addr: String,
    heartbeats: Arc<Mutex<Vec<Instant>>>,
}

impl FakeBroker {
    pub async fn start() -> FakeBroker {
        let (listener, addr) = listener().await;
        let heartbeats = Arc::new(Mutex::new(Vec::new()));
        let seen = heartbeats.clone();
        let answer = move |cmd: &RemotingCommand| {
            if cmd.code == HEART_BEAT {
                seen.lock().push(Instant::now());
            }
            at_once(RemotingCommand::response(SUCCESS, 0, None))
        };
        tokio::spawn(serve(listener, Arc::new(AtomicUsize::new(0)), answer));
        FakeBroker { addr, heartbeats }
    }

    pub fn heartbeats(&self) -> Vec<Instant> {
        self.heartbeats.lock().clone()
    }
}

/// A broker alive but slow (a SYNC_MASTER waiting for its slave, a GC pause): it stores
/// nothing, counts each send by UNIQ_KEY and answers it SEND_OK after `delay`; every other
/// request (heartbeats) is answered SUCCESS at once.
pub struct SlowBroker {
    pub addr: String,
    received: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl SlowBroker {
    pub async fn start(delay: Duration) -> SlowBroker {
        let (listener, addr) = listener().await;
        let received = Arc::new(Mutex::new(BTreeMap::new()));
        let counts = received.clone();
        let answer = move |cmd: &RemotingCommand| {
            let Some(uniq_key) = uniq_key_of_send(cmd) else {
                return at_once(RemotingCommand::response(SUCCESS, 0, None));
            };
            let mut counts = counts.lock();
            let copies = counts.entry(uniq_key).or_insert(0);
            *copies += 1;
            let mut reply = RemotingCommand::response(SUCCESS, 0, None);
            reply.ext_fields = BTreeMap::from([
                (
                    "msgId".to_string(),
                    format!("7F00000100002A9F{:016X}", *copies),
                ),
                ("queueId".to_string(), "0".to_string()),
                ("queueOffset".to_string(), copies.to_string()),
            ]);
            Some((reply, delay))
        };
        tokio::spawn(serve(listener, Arc::new(AtomicUsize::new(0)), answer));
        SlowBroker { addr, received }
    }

    /// Send requests received for the message `uniq_key`.
    pub fn copies_of(&self, uniq_key: &str) -> usize {
        self.received.lock().get(uniq_key).copied().unwrap_or(0)
    }
}

/// The UNIQ_KEY of a SEND_MESSAGE(_V2) request (V2 names its properties "i"); None for others.
fn uniq_key_of_send(cmd: &RemotingCommand) -> Option<String> {
    if cmd.code != request::SEND_MESSAGE_V2 && cmd.code != request::SEND_MESSAGE {
        return None;
    }
    let fields = cmd.all_ext_fields();
    let properties = fields.get("i").or(fields.get("properties"))?;
    decode_properties(properties)
        .into_iter()
        .find(|(name, _)| name == property::UNIQ_KEY)
        .map(|(_, value)| value)
}

/// An address where a connect never completes: a listener with a backlog of 0 whose accept
/// queue is filled by connections it never accepts, so the kernel drops further SYNs.
pub struct BlackHole {
    pub addr: String,
    _listener: TcpListener,
    _fillers: Vec<TcpStream>,
}

impl BlackHole {
    pub async fn start() -> BlackHole {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut fillers = Vec::new();
        for _ in 0..8 {
            match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(&addr)).await
            {
                Ok(Ok(stream)) => fillers.push(stream),
                Ok(Err(e)) => panic!("connect to the black hole failed: {e}"),
                Err(_) => break,
            }
        }
        let probe =
            tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(&addr)).await;
        assert!(
            probe.is_err(),
            "a connect to {addr} completed: not a black hole"
        );
        BlackHole {
            addr,
            _listener: listener,
            _fillers: fillers,
        }
    }
}
