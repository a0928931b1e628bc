//! Entry points for the fuzz targets in `rmq-core/fuzz` (feature `fuzzing`, not an API): the
//! decoders of untrusted bytes that are not public on their own. Each only forwards.

use once_cell::sync::Lazy;

use crate::error::Result;
use crate::producer::send::{self, Prepared};
use crate::producer::{ProducerConfig, SendResult};
use crate::protocol::command::RemotingCommand;
use crate::protocol::message::Message;
use crate::protocol::route::MessageQueue;

/// The topic of the message whose send [`send_result`] answers.
pub const SENT_TOPIC: &str = "TopicTest";

/// A command from a JSON header (the frame decoder's path for serialize type 0).
pub fn header_json(header: &[u8]) -> Result<RemotingCommand> {
    RemotingCommand::from_json_header(header)
}

/// A command from a ROCKETMQ binary header (serialize type 1).
pub fn header_rocketmq(header: &[u8]) -> Result<RemotingCommand> {
    RemotingCommand::from_binary_header(header)
}

/// What the producer makes of `response` to a send of one message to [`SENT_TOPIC`].
pub fn send_result(response: RemotingCommand) -> Result<SendResult> {
    // Prepared once: preparing draws a message id, which is not what is fuzzed.
    static PREPARED: Lazy<Prepared> = Lazy::new(|| {
        Prepared::new(
            &Message::new(SENT_TOPIC, "fuzz"),
            &ProducerConfig::new("FUZZ_GROUP"),
        )
        .expect("a valid message")
    });
    let queue = MessageQueue {
        topic: SENT_TOPIC.to_owned(),
        broker_name: "broker-a".to_owned(),
        queue_id: 0,
    };
    send::send_result(response, &queue, &PREPARED, "127.0.0.1:10911")
}
