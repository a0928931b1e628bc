//! Transport behaviour against an in-process fake server: the faults a real broker cannot be
//! made to show on demand (silence, dropped connections, oversize frames, GO_AWAY).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::connection::Connection;
use super::{HangCheck, Transport, TransportConfig};
use crate::error::ErrorKind;
use crate::protocol::codes::{request, response};
use crate::protocol::command::{DEFAULT_MAX_FRAME_LEN, RemotingCommand, SerializeType};

/// What the fake server does with each request it reads.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Answer SUCCESS with the request's body.
    Echo,
    /// Never answer.
    Silent,
    /// Close the connection on the first request.
    Hangup,
    /// Answer the first request with GO_AWAY, every later one with SUCCESS.
    GoAwayOnce,
    /// Answer HEART_BEAT at once and every other request with SUCCESS after this many
    /// milliseconds, each on its own (a broker whose send executor is slow).
    SlowSends(u64),
}

struct FakeServer {
    addr: String,
    connections: Arc<AtomicUsize>,
    /// The code of every request the server read, in order.
    codes: Arc<parking_lot::Mutex<Vec<i32>>>,
    /// Oneway requests the server read.
    oneways: mpsc::UnboundedReceiver<RemotingCommand>,
}

impl FakeServer {
    async fn start(behaviour: Behaviour) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let codes = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let (seen, oneways) = mpsc::unbounded_channel();
        let count = connections.clone();
        let went_away = Arc::new(AtomicBool::new(false));
        let record = codes.clone();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let seen = seen.clone();
                let went_away = went_away.clone();
                tokio::spawn(serve(socket, behaviour, seen, went_away, record.clone()));
            }
        });
        FakeServer {
            addr,
            connections,
            codes,
            oneways,
        }
    }
}

async fn serve(
    socket: TcpStream,
    behaviour: Behaviour,
    oneways: mpsc::UnboundedSender<RemotingCommand>,
    went_away: Arc<AtomicBool>,
    codes: Arc<parking_lot::Mutex<Vec<i32>>>,
) {
    let (mut reader, writer) = socket.into_split();
    let writer = Arc::new(tokio::sync::Mutex::new(writer));
    let mut buf = BytesMut::new();
    loop {
        while let Ok(Some(cmd)) = RemotingCommand::decode_frame(&mut buf, DEFAULT_MAX_FRAME_LEN) {
            codes.lock().push(cmd.code);
            if cmd.is_oneway() {
                let _ = oneways.send(cmd);
                continue;
            }
            let code = match behaviour {
                Behaviour::Echo => response::SUCCESS,
                Behaviour::SlowSends(ms) if cmd.code != request::HEART_BEAT => {
                    let writer = writer.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        let mut frame = BytesMut::new();
                        RemotingCommand::response(response::SUCCESS, cmd.opaque, None)
                            .with_body(cmd.body.clone())
                            .encode(SerializeType::Json, &mut frame);
                        let _ = writer.lock().await.write_all(&frame).await;
                    });
                    continue;
                }
                Behaviour::SlowSends(_) => response::SUCCESS,
                Behaviour::Silent => continue,
                Behaviour::Hangup => return,
                Behaviour::GoAwayOnce if !went_away.swap(true, Ordering::SeqCst) => {
                    response::GO_AWAY
                }
                Behaviour::GoAwayOnce => response::SUCCESS,
            };
            let mut frame = BytesMut::new();
            RemotingCommand::response(code, cmd.opaque, None)
                .with_body(cmd.body.clone())
                .encode(SerializeType::Json, &mut frame);
            if writer.lock().await.write_all(&frame).await.is_err() {
                return;
            }
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn transport(max_in_flight: usize) -> Transport {
    Transport::new(TransportConfig {
        serialize: SerializeType::Json,
        connect_timeout: Duration::from_secs(1),
        max_frame_len: 1024 * 1024,
        max_in_flight,
        tls: None,
        credentials: None,
    })
    .0
}

fn request(body: &'static [u8]) -> RemotingCommand {
    RemotingCommand::request(310, BTreeMap::new()).with_body(bytes::Bytes::from_static(body))
}

fn soon(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms)
}

#[tokio::test]
async fn concurrent_requests_share_one_connection_and_match_by_opaque() {
    let server = FakeServer::start(Behaviour::Echo).await;
    let transport = Arc::new(transport(1024));
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let transport = transport.clone();
        let addr = server.addr.clone();
        tasks.push(tokio::spawn(async move {
            let body = i.to_be_bytes().to_vec();
            let cmd = RemotingCommand::request(310, BTreeMap::new()).with_body(body.clone().into());
            let answer = transport.invoke(&addr, cmd, soon(5000)).await.unwrap();
            assert_eq!(answer.body.as_ref(), body.as_slice());
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn silent_server_times_out_at_the_deadline() {
    let server = FakeServer::start(Behaviour::Silent).await;
    let transport = transport(16);
    let begin = Instant::now();
    let e = transport
        .invoke(&server.addr, request(b"x"), soon(300))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    let waited = begin.elapsed();
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
}

#[tokio::test]
async fn disconnect_fails_every_pending_request_at_once() {
    let server = FakeServer::start(Behaviour::Hangup).await;
    let transport = Arc::new(transport(16));
    // The first request makes the server hang up; the others are pending on the same socket.
    let conn = transport
        .connection(&server.addr, soon(1000))
        .await
        .unwrap();
    let begin = Instant::now();
    let pending: Vec<_> = (0..5)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.request(request(b"x"), soon(10_000)).await })
        })
        .collect();
    for task in pending {
        assert_eq!(task.await.unwrap().unwrap_err().kind(), ErrorKind::Network);
    }
    assert!(begin.elapsed() < Duration::from_secs(2));
    assert!(!conn.is_usable());
}

#[tokio::test]
async fn next_use_after_a_disconnect_reconnects() {
    let server = FakeServer::start(Behaviour::Hangup).await;
    let transport = transport(16);
    for _ in 0..3 {
        let e = transport
            .invoke(&server.addr, request(b"x"), soon(2000))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Network);
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let e = transport(16)
        .invoke(&addr, request(b"x"), soon(1000))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect);
    assert_eq!(e.broker_addr(), Some(addr.as_str()));
}

#[tokio::test]
async fn in_flight_bound_refuses_beyond_the_limit_until_the_deadline() {
    let server = FakeServer::start(Behaviour::Silent).await;
    let transport = Arc::new(transport(2));
    let conn = transport
        .connection(&server.addr, soon(1000))
        .await
        .unwrap();
    let holders: Vec<_> = (0..2)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.request(request(b"x"), soon(5000)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let e = conn.request(request(b"x"), soon(200)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooManyRequests);
    for h in holders {
        assert_eq!(h.await.unwrap().unwrap_err().kind(), ErrorKind::Timeout);
    }
}

#[tokio::test]
async fn go_away_is_answered_by_resending_on_a_new_connection() {
    let server = FakeServer::start(Behaviour::GoAwayOnce).await;
    let transport = transport(16);
    let answer = transport
        .invoke(&server.addr, request(b"payload"), soon(2000))
        .await
        .unwrap();
    assert_eq!(answer.code, response::SUCCESS);
    assert_eq!(answer.body.as_ref(), b"payload");
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn oversize_frame_from_the_server_fails_pending_requests_as_protocol_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut sink = [0u8; 1024];
        let _ = socket.read(&mut sink).await;
        // A length prefix far over the 1 MiB limit of this transport.
        socket
            .write_all(&(64 * 1024 * 1024u32).to_be_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let e = transport(16)
        .invoke(&addr, request(b"x"), soon(3000))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
}

/// Sends the client a request (code 9999) as a broker would, and returns the client's answer.
async fn server_request(socket: &mut TcpStream, opaque: i32) -> RemotingCommand {
    let mut frame = BytesMut::new();
    let mut push = RemotingCommand::request(9999, BTreeMap::new());
    push.opaque = opaque;
    push.encode(SerializeType::Json, &mut frame);
    socket.write_all(&frame).await.unwrap();
    let mut buf = BytesMut::new();
    loop {
        if let Some(cmd) = RemotingCommand::decode_frame(&mut buf, DEFAULT_MAX_FRAME_LEN).unwrap() {
            return cmd;
        }
        socket.read_buf(&mut buf).await.unwrap();
    }
}

#[tokio::test]
async fn server_requests_are_answered_as_not_supported() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let transport = transport(16);
    let accept = tokio::spawn(async move { listener.accept().await.unwrap().0 });
    let _conn = transport.connection(&addr, soon(1000)).await.unwrap();
    let mut socket: TcpStream = accept.await.unwrap();
    let answer = server_request(&mut socket, 77).await;
    assert!(answer.is_response());
    assert_eq!(answer.opaque, 77);
    assert_eq!(answer.code, response::REQUEST_CODE_NOT_SUPPORTED);
}

#[tokio::test]
async fn oneway_returns_once_queued_and_gets_no_answer() {
    let mut server = FakeServer::start(Behaviour::Echo).await;
    let transport = transport(16);
    transport
        .invoke_oneway(&server.addr, request(b"fire"), soon(1000))
        .await
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(2), server.oneways.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(seen.is_oneway());
    assert_eq!(seen.body.as_ref(), b"fire");
}

#[tokio::test]
async fn frames_beyond_one_vectored_write_arrive_whole_and_in_order() {
    // Thousands of small frames queue up faster than they are written: one batch then holds more
    // slices than a vectored write takes, and empty bodies are slices to pass over.
    let mut server = FakeServer::start(Behaviour::Echo).await;
    let transport = transport(16);
    let body = |i: u32| -> Bytes {
        if i % 2 == 0 {
            Bytes::new()
        } else {
            i.to_string().into()
        }
    };
    for i in 0..3000u32 {
        let cmd = RemotingCommand::request(310, BTreeMap::new()).with_body(body(i));
        transport
            .invoke_oneway(&server.addr, cmd, soon(5000))
            .await
            .unwrap();
    }
    for i in 0..3000u32 {
        let seen = tokio::time::timeout(Duration::from_secs(5), server.oneways.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen.body, body(i), "frame {i}");
    }
}

#[tokio::test]
async fn oneways_queued_before_a_close_are_still_written() {
    let mut server = FakeServer::start(Behaviour::Echo).await;
    let transport = transport(16);
    for i in 0..200u32 {
        let cmd = RemotingCommand::request(310, BTreeMap::new()).with_body(i.to_string().into());
        transport
            .invoke_oneway(&server.addr, cmd, soon(1000))
            .await
            .unwrap();
    }
    transport.close_all();
    for i in 0..200u32 {
        let seen = tokio::time::timeout(Duration::from_secs(2), server.oneways.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen.body.as_ref(), i.to_string().as_bytes());
    }
}

#[tokio::test]
async fn sweep_drops_entries_of_requests_whose_caller_went_away() {
    let server = FakeServer::start(Behaviour::Silent).await;
    let transport = transport(16);
    let conn = transport
        .connection(&server.addr, soon(1000))
        .await
        .unwrap();
    let abandoned = {
        let conn = conn.clone();
        tokio::spawn(async move { conn.request(request(b"x"), soon(60_000)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(conn.pending_len(), 1);
    abandoned.abort();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(conn.pending_len(), 0);
}

#[tokio::test]
async fn registered_handlers_answer_server_requests() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let transport = transport(16);
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let record = seen.clone();
    transport.register_server_handler(
        9999,
        Arc::new(move |from: &str, cmd: RemotingCommand| {
            record.lock().push((from.to_string(), cmd.code));
            Some(RemotingCommand::response(response::SUCCESS, 0, None))
        }),
    );
    let accept = tokio::spawn(async move { listener.accept().await.unwrap().0 });
    let _conn = transport.connection(&addr, soon(1000)).await.unwrap();
    let mut socket: TcpStream = accept.await.unwrap();
    let answer = server_request(&mut socket, 78).await;
    assert!(answer.is_response());
    assert_eq!(answer.opaque, 78);
    assert_eq!(answer.code, response::SUCCESS);
    assert_eq!(seen.lock().as_slice(), &[(addr, 9999)]);
}

fn heartbeat() -> RemotingCommand {
    RemotingCommand::request(request::HEART_BEAT, BTreeMap::new())
}

fn hang_check(
    suspect_after_ms: u64,
    probe: &(dyn Fn() -> RemotingCommand + Sync),
) -> HangCheck<'_> {
    HangCheck {
        suspect_at: soon(suspect_after_ms),
        probe_timeout: Duration::from_millis(500),
        probe,
    }
}

#[tokio::test]
async fn a_slow_peer_that_answers_the_probe_is_waited_for_and_sent_the_request_once() {
    let server = FakeServer::start(Behaviour::SlowSends(1500)).await;
    let transport = transport(16);
    let begin = Instant::now();
    // Suspect after 300 ms; the probe is answered at once, so the request is waited for.
    let answer = transport
        .invoke_until(
            &server.addr,
            request(b"a"),
            Some(hang_check(300, &heartbeat)),
            soon(10_000),
        )
        .await
        .unwrap();
    assert_eq!(answer.body.as_ref(), b"a");
    // Wide margins: the machine running the tests may be slow.
    let waited = begin.elapsed();
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(
        server.codes.lock().as_slice(),
        &[310, request::HEART_BEAT],
        "one request, one probe"
    );
}

#[tokio::test]
async fn a_peer_that_answers_neither_the_request_nor_the_probe_is_given_up_on() {
    let server = FakeServer::start(Behaviour::Silent).await;
    let transport = transport(16);
    let conn = transport
        .connection(&server.addr, soon(1000))
        .await
        .unwrap();
    // Another request, without a hang check, pending on the same connection throughout.
    let other = tokio::spawn({
        let conn = conn.clone();
        async move { conn.request(request(b"other"), soon(2500)).await }
    });
    let begin = Instant::now();
    let e = conn
        .request_until(
            &mut request(b"c"),
            Some(hang_check(300, &heartbeat)),
            soon(10_000),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(e.message().contains("looks hung"), "{e}");
    // Suspect at 300 ms + 500 ms of probe: far before the 10 s deadline.
    assert!(
        begin.elapsed() < Duration::from_secs(2),
        "{:?}",
        begin.elapsed()
    );
    // The other request is not failed by the verdict: it reaches its own...
    assert!(!conn.is_closed());
    assert_eq!(conn.pending_len(), 1, "only the other request is pending");
    // ...while new ones go out on a fresh connection (a healed partition leaves the old one
    // waiting for TCP's backed-off retransmissions).
    assert!(!conn.is_usable());
    transport
        .connection(&server.addr, soon(1000))
        .await
        .unwrap();
    // The server counts a connection once its accept loop ran, just after the connect.
    let counted = soon(2000);
    while server.connections.load(Ordering::SeqCst) < 2 && Instant::now() < counted {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    // Once nothing is pending on the hung connection, it is closed (reset: the next test).
    let other = other.await.unwrap().unwrap_err();
    assert_eq!(other.kind(), ErrorKind::Timeout, "{other}");
    assert!(conn.is_closed());
}

/// A partition leaves requests in the kernel's send queue, to be delivered when the network
/// heals, though their callers were told to retry elsewhere: stored twice. A peer that reads
/// nothing stands for it here: it must never get the rest of a request given up as hung, but a
/// reset (without the reset it reads what the socket still held, then an orderly end).
#[tokio::test]
async fn a_connection_given_up_as_hung_is_reset_so_the_peer_never_gets_what_it_still_held() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = tokio::spawn(async move { listener.accept().await.unwrap().0 });
    let transport = transport(16);
    let conn = transport.connection(&addr, soon(1000)).await.unwrap();
    let mut peer = accepted.await.unwrap();

    // More than the two sockets' buffers hold, so that most of it stays queued in the kernel.
    static BODY: [u8; 32 << 20] = [7; 32 << 20];
    let e = conn
        .request_until(
            &mut request(&BODY),
            Some(hang_check(300, &heartbeat)),
            soon(10_000),
        )
        .await
        .unwrap_err();
    assert!(e.message().contains("looks hung"), "{e}");
    let closed = soon(2000);
    while !conn.is_closed() && Instant::now() < closed {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        conn.is_closed(),
        "nothing is pending: the hung connection is closed"
    );

    let mut received = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    let end = loop {
        match tokio::time::timeout(Duration::from_secs(5), peer.read(&mut buf)).await {
            Ok(Ok(0)) => break Ok(()),
            Ok(Ok(n)) => received += n,
            Ok(Err(e)) => break Err(e.kind()),
            Err(_) => panic!("the peer got neither an end nor a reset ({received} bytes read)"),
        }
    };
    assert_eq!(
        end,
        Err(std::io::ErrorKind::ConnectionReset),
        "the peer read {received} bytes, then an orderly end"
    );
    assert!(received < BODY.len(), "{received} bytes reached the peer");
}

#[tokio::test]
async fn a_prompt_answer_sends_no_probe() {
    let server = FakeServer::start(Behaviour::Echo).await;
    let transport = transport(16);
    for _ in 0..10 {
        transport
            .invoke_until(
                &server.addr,
                request(b"x"),
                Some(hang_check(1000, &heartbeat)),
                soon(5000),
            )
            .await
            .unwrap();
    }
    assert!(
        !server.codes.lock().contains(&request::HEART_BEAT),
        "{:?}",
        server.codes.lock()
    );
}

/// A connection to a server that reads nothing until the test reads from the returned socket.
async fn unread_connection(max_in_flight: usize) -> (Transport, Connection, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accept = tokio::spawn(async move { listener.accept().await.unwrap().0 });
    let transport = transport(max_in_flight);
    let conn = transport.connection(&addr, soon(1000)).await.unwrap();
    let socket = accept.await.unwrap();
    (transport, conn, socket)
}

#[tokio::test]
async fn a_close_never_writes_the_requests_it_failed_but_flushes_queued_oneways() {
    let (_transport, conn, mut socket) = unread_connection(64).await;
    // The server reads nothing yet: 16 MiB of oneways fill the socket and stay queued.
    let big = bytes::Bytes::from(vec![b'o'; 256 * 1024]);
    for _ in 0..64 {
        let cmd = RemotingCommand::request(310, BTreeMap::new()).with_body(big.clone());
        conn.oneway(cmd, soon(5000)).await.unwrap();
    }
    let requests: Vec<_> = (0..5)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.request(request(b"request"), soon(30_000)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..5 {
        conn.oneway(request(b"after"), soon(5000)).await.unwrap();
    }
    conn.close("closed by the test");
    for task in requests {
        assert_eq!(task.await.unwrap().unwrap_err().kind(), ErrorKind::Network);
    }

    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut received))
        .await
        .expect("the client did not close the socket")
        .unwrap();
    let mut buf = BytesMut::from(received.as_slice());
    let (mut oneways, mut requests_seen) = (0, 0);
    while let Some(cmd) = RemotingCommand::decode_frame(&mut buf, DEFAULT_MAX_FRAME_LEN).unwrap() {
        if cmd.is_oneway() {
            oneways += 1;
        } else {
            requests_seen += 1;
        }
    }
    assert!(buf.is_empty(), "{} bytes of a cut frame", buf.len());
    assert_eq!(
        requests_seen, 0,
        "requests failed by the close reached the server"
    );
    assert_eq!(oneways, 64 + 5);
}

#[tokio::test]
async fn a_close_cuts_a_request_frame_stuck_in_a_write_instead_of_finishing_it() {
    let (_transport, conn, mut socket) = unread_connection(16).await;
    // The server reads nothing yet: the writer is stuck inside this 8 MiB request.
    let big = bytes::Bytes::from(vec![b'r'; 8 * 1024 * 1024]);
    let stuck = {
        let conn = conn.clone();
        let cmd = RemotingCommand::request(310, BTreeMap::new()).with_body(big);
        tokio::spawn(async move { conn.request(cmd, soon(30_000)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    conn.close("closed by the test");
    assert_eq!(stuck.await.unwrap().unwrap_err().kind(), ErrorKind::Network);

    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut received))
        .await
        .expect("the client did not close the socket")
        .unwrap();
    let mut buf = BytesMut::from(received.as_slice());
    let frame = RemotingCommand::decode_frame(&mut buf, usize::MAX).unwrap();
    assert!(
        frame.is_none(),
        "the request failed by the close reached the server whole"
    );
}
