//! The "ceiling" broker: one loopback port that plays NameServer and broker master at once and
//! answers every request immediately, so a client measured against it is limited only by
//! itself and the machine.
//!
//! `ceiling-broker [--port N]` prints `NAMESRV_ADDR=127.0.0.1:PORT` once listening, then serves
//! until killed. Routes for any topic point at this same port (8 queues); SEND_MESSAGE(_V2) gets
//! SUCCESS with a made-up offset; oneway requests get nothing; any other request gets SUCCESS.
//! Nothing is stored. Answers have JSON headers whatever the request's serialize type, as the
//! 5.3.3 NameServer and broker do (they read binary ROCKETMQ headers but answer in JSON).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::BytesMut;
use rmq_core::protocol::codes::{request, response};
use rmq_core::protocol::command::{
    DEFAULT_MAX_FRAME_LEN, LanguageCode, RemotingCommand, SerializeType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BROKER_NAME: &str = "broker-ceiling";
const QUEUES: i32 = 8;
/// `MQVersion.Version.V4_9_4.ordinal()`: from this client version on, routes are standard JSON.
const VERSION_V4_9_4: i32 = 401;

/// Commit-log offsets handed out, so every send result is distinct as a real broker's would be.
static NEXT_OFFSET: AtomicI64 = AtomicI64::new(0);

/// The route the name server gives for any topic. As from the real name server (4.9.4 and
/// later), clients at version V4_9_4 or later, or that ask for it, get standard JSON; older
/// ones get fastjson's unquoted integer map keys.
fn route_body(addr: &str, standard_json: bool) -> Vec<u8> {
    let broker_id = if standard_json { "\"0\"" } else { "0" };
    format!(
        "{{\"brokerDatas\":[{{\"brokerAddrs\":{{{broker_id}:\"{addr}\"}},\"brokerName\":\"{BROKER_NAME}\",\
         \"cluster\":\"DefaultCluster\",\"enableActingMaster\":false}}],\"filterServerTable\":{{}},\"queueDatas\":[{{\"brokerName\":\
         \"{BROKER_NAME}\",\"perm\":6,\"readQueueNums\":{QUEUES},\"topicSysFlag\":0,\"writeQueueNums\":{QUEUES}}}]}}"
    )
    .into_bytes()
}

/// A send's offset message id: store host (127.0.0.1:port) and commit-log offset, in hex.
fn offset_msg_id(port: u16, offset: i64) -> String {
    format!("7F000001{:08X}{:016X}", u32::from(port), offset)
}

fn answer(request: &RemotingCommand, addr: &str, port: u16) -> Option<RemotingCommand> {
    if request.is_oneway() {
        return None;
    }
    let mut reply = RemotingCommand::response(response::SUCCESS, request.opaque, None);
    reply.language = LanguageCode::Java;
    match request.code {
        request::GET_ROUTEINFO_BY_TOPIC => {
            let standard = request.version >= VERSION_V4_9_4
                || request
                    .ext_fields
                    .get("acceptStandardJsonOnly")
                    .is_some_and(|v| v == "true");
            reply.body = route_body(addr, standard).into();
        }
        request::SEND_MESSAGE | request::SEND_MESSAGE_V2 | request::SEND_BATCH_MESSAGE => {
            let offset = NEXT_OFFSET.fetch_add(1, Ordering::Relaxed);
            // V2 headers name the queue `e`, the classic ones `queueId`.
            let queue_id = request
                .ext_fields
                .get("e")
                .or_else(|| request.ext_fields.get("queueId"))
                .cloned()
                .unwrap_or_else(|| "0".to_string());
            reply.ext_fields = BTreeMap::from([
                ("msgId".to_string(), offset_msg_id(port, offset)),
                ("queueId".to_string(), queue_id),
                ("queueOffset".to_string(), offset.to_string()),
                ("MSG_REGION".to_string(), "DefaultRegion".to_string()),
                ("TRACE_ON".to_string(), "true".to_string()),
            ]);
        }
        _ => {}
    }
    Some(reply)
}

/// Reads whatever arrived, answers every whole frame in it, and writes the answers in one go.
async fn serve(mut stream: TcpStream, addr: String, port: u16) {
    let _ = stream.set_nodelay(true);
    let mut input = BytesMut::with_capacity(256 * 1024);
    let mut output = BytesMut::with_capacity(64 * 1024);
    loop {
        match stream.read_buf(&mut input).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        loop {
            match RemotingCommand::decode_frame(&mut input, DEFAULT_MAX_FRAME_LEN) {
                Ok(Some(request)) => {
                    if let Some(reply) = answer(&request, &addr, port) {
                        reply.encode(SerializeType::Json, &mut output);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("ceiling-broker: dropping a connection: {e}");
                    return;
                }
            }
        }
        if !output.is_empty() {
            if stream.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
    }
}

fn port_from_args() -> u16 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => 0,
        [flag, port] if flag == "--port" => port.parse().unwrap_or_else(|_| {
            eprintln!("usage error: --port takes a number");
            std::process::exit(64)
        }),
        _ => {
            eprintln!("usage: ceiling-broker [--port N]");
            std::process::exit(64)
        }
    }
}

fn main() {
    let port = port_from_args();
    // One thread: the ceiling broker keeps to one core and leaves the other to the client.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async move {
        let listener = match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("ceiling-broker: cannot listen on 127.0.0.1:{port}: {e}");
                std::process::exit(1);
            }
        };
        let port = listener.local_addr().expect("a bound address").port();
        let addr = format!("127.0.0.1:{port}");
        println!("NAMESRV_ADDR={addr}");
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, addr.clone(), port));
            }
        }
    });
}
