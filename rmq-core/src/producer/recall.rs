//! Recall of a timer message before it is due (Java 5.3's `DefaultMQProducer.recallMessage`).

use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::producer::Producer;
use crate::producer::send::wire_topic;
use crate::protocol::recall::{RecallHandle, RecallMessageRequestHeader, recalled_msg_id};
use crate::protocol::validate;
use crate::runtime;

impl Producer {
    /// Cancels the timer message whose [`SendResult::recall_handle`] is `handle`, sent to
    /// `topic`, so that it is never delivered; returns its message id (UNIQ_KEY). Needs a
    /// RocketMQ 5.3.2+ broker with `recallMessageEnable=true`. The topic and the handle are
    /// checked before any network traffic; the broker refuses (a `Broker` error with its code and
    /// remark) a handle of another topic or of a message already due. One request, within the
    /// send timeout, to the master of the broker that holds the message.
    ///
    /// [`SendResult::recall_handle`]: crate::producer::SendResult::recall_handle
    pub async fn recall(&self, topic: &str, handle: &str) -> Result<String> {
        let client = self.inner.client()?;
        let config = &self.inner.config;
        validate::validate_topic(topic)?;
        if topic.starts_with("%RETRY%") || topic.starts_with("%DLQ%") {
            return Err(Error::new(
                ErrorKind::InvalidTopic,
                format!("recall from retry or dead letter topic {topic:?} is not supported"),
            ));
        }
        let decoded = RecallHandle::decode(handle)?;
        let header = RecallMessageRequestHeader {
            producer_group: config.group.clone(),
            topic: wire_topic(topic, config)?,
            recall_handle: handle.to_string(),
            broker_name: decoded.broker_name,
        };
        let deadline = Instant::now() + config.send_timeout;
        runtime::on_runtime(async move {
            let addr = client
                .recall_addr(&header.topic, &header.broker_name, deadline)
                .await?;
            let response = client
                .invoke_broker(&addr, header.to_command(), None, deadline)
                .await?;
            recalled_msg_id(response, &addr)
        })
        .await
    }
}
