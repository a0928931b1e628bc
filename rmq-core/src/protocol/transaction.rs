//! Transaction messages on the wire: END_TRANSACTION (client → broker) and
//! CHECK_TRANSACTION_STATE (broker → client; its body is a [`StoredMessage`] record).
//!
//! [`StoredMessage`]: crate::protocol::stored::StoredMessage

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::protocol::codes::request;
use crate::protocol::command::RemotingCommand;

/// `commitOrRollback` values of END_TRANSACTION (`MessageSysFlag.TRANSACTION_*_TYPE`).
pub const TRANSACTION_NOT_TYPE: i32 = 0;
pub const TRANSACTION_COMMIT_TYPE: i32 = 0x8;
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;

/// `EndTransactionRequestHeader`.
#[derive(Debug, Clone, PartialEq)]
pub struct EndTransactionRequestHeader {
    pub topic: String,
    pub producer_group: String,
    /// The half message's queue offset.
    pub tran_state_table_offset: i64,
    pub commit_log_offset: i64,
    pub commit_or_rollback: i32,
    pub from_transaction_check: bool,
    /// The half message's UNIQ_KEY.
    pub msg_id: String,
    pub transaction_id: Option<String>,
    /// `bname`: absent when unknown (a 4.x broker's check names no broker).
    pub broker_name: Option<String>,
}

impl EndTransactionRequestHeader {
    /// The oneway END_TRANSACTION request; `remark` carries why the local transaction failed.
    pub fn to_command(&self, remark: Option<String>) -> RemotingCommand {
        let mut fields = BTreeMap::new();
        let mut put = |key: &str, value: String| {
            fields.insert(key.to_owned(), value);
        };
        put("topic", self.topic.clone());
        put("producerGroup", self.producer_group.clone());
        put(
            "tranStateTableOffset",
            self.tran_state_table_offset.to_string(),
        );
        put("commitLogOffset", self.commit_log_offset.to_string());
        put("commitOrRollback", self.commit_or_rollback.to_string());
        put(
            "fromTransactionCheck",
            self.from_transaction_check.to_string(),
        );
        put("msgId", self.msg_id.clone());
        if let Some(id) = &self.transaction_id {
            put("transactionId", id.clone());
        }
        if let Some(name) = &self.broker_name {
            put("bname", name.clone());
        }
        let mut cmd = RemotingCommand::request(request::END_TRANSACTION, fields);
        cmd.remark = remark;
        cmd
    }
}

/// `CheckTransactionStateRequestHeader`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckTransactionStateRequestHeader {
    pub tran_state_table_offset: i64,
    pub commit_log_offset: i64,
    pub msg_id: Option<String>,
    pub transaction_id: Option<String>,
    pub offset_msg_id: Option<String>,
    pub broker_name: Option<String>,
}

impl CheckTransactionStateRequestHeader {
    pub fn from_ext_fields(fields: &BTreeMap<String, String>) -> Result<Self> {
        let number = |name: &str| -> Result<i64> {
            let text = fields.get(name).ok_or_else(|| {
                Error::protocol(format!("transaction check lacks the {name} header field"))
            })?;
            text.trim().parse().map_err(|_| {
                Error::protocol(format!(
                    "transaction check field {name} is not a number: {text:?}"
                ))
            })
        };
        let optional = |name: &str| fields.get(name).filter(|v| !v.is_empty()).cloned();
        Ok(CheckTransactionStateRequestHeader {
            tran_state_table_offset: number("tranStateTableOffset")?,
            commit_log_offset: number("commitLogOffset")?,
            msg_id: optional("msgId"),
            transaction_id: optional("transactionId"),
            offset_msg_id: optional("offsetMsgId"),
            broker_name: optional("bname"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_transaction_fields() {
        let header = EndTransactionRequestHeader {
            topic: "T".into(),
            producer_group: "G".into(),
            tran_state_table_offset: 5,
            commit_log_offset: 99,
            commit_or_rollback: TRANSACTION_COMMIT_TYPE,
            from_transaction_check: false,
            msg_id: "ID".into(),
            transaction_id: Some("TX".into()),
            broker_name: Some("broker-a".into()),
        };
        let cmd = header.to_command(Some("why".into()));
        assert_eq!(cmd.code, 37);
        assert_eq!(cmd.remark.as_deref(), Some("why"));
        assert_eq!(cmd.ext_fields["commitOrRollback"], "8");
        assert_eq!(cmd.ext_fields["fromTransactionCheck"], "false");
        assert_eq!(cmd.ext_fields["tranStateTableOffset"], "5");
        assert_eq!(cmd.ext_fields["bname"], "broker-a");
    }

    #[test]
    fn check_header_needs_its_offsets() {
        let fields: BTreeMap<String, String> = [
            ("tranStateTableOffset", "3"),
            ("commitLogOffset", "77"),
            ("msgId", "ID"),
            ("bname", "broker-b"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let h = CheckTransactionStateRequestHeader::from_ext_fields(&fields).unwrap();
        assert_eq!((h.tran_state_table_offset, h.commit_log_offset), (3, 77));
        assert_eq!(h.broker_name.as_deref(), Some("broker-b"));
        let mut partial = fields.clone();
        partial.remove("commitLogOffset");
        assert!(CheckTransactionStateRequestHeader::from_ext_fields(&partial).is_err());
    }
}
