//! Request signing for brokers with authentication on (`AclClientRPCHook`, checked by the
//! 5.x broker's `DefaultAuthenticationProvider`): ext fields AccessKey (and SecurityToken),
//! then Signature = Base64(HMAC-SHA1(secret, values of all ext fields sorted by name, body)).

use std::fmt;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use crate::protocol::command::RemotingCommand;

const ACCESS_KEY: &str = "AccessKey";
const SECURITY_TOKEN: &str = "SecurityToken";
const SIGNATURE: &str = "Signature";

/// An access key, its secret, and an optional security token (STS).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub security_token: Option<String>,
}

impl fmt::Debug for Credentials {
    /// Never shows the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Credentials {
    /// Adds AccessKey, SecurityToken and Signature to `cmd`'s ext fields. The signature covers
    /// every ext field, so nothing may be added to them afterwards.
    pub fn sign(&self, cmd: &mut RemotingCommand) {
        cmd.materialize_ext_fields();
        cmd.ext_fields
            .insert(ACCESS_KEY.to_string(), self.access_key.clone());
        if let Some(token) = &self.security_token {
            cmd.ext_fields
                .insert(SECURITY_TOKEN.to_string(), token.clone());
        }
        cmd.ext_fields.remove(SIGNATURE);
        // Java sorts the names as Strings (UTF-16 order); ext field names are ASCII, for which
        // the BTreeMap's byte order is the same.
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(self.secret_key.as_bytes())
            .expect("HMAC takes keys of any length");
        for value in cmd.ext_fields.values() {
            mac.update(value.as_bytes());
        }
        mac.update(&cmd.body);
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        cmd.ext_fields.insert(SIGNATURE.to_string(), signature);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;

    use super::*;
    use crate::protocol::header::SendMessageRequestHeader;

    fn command(body: &'static [u8]) -> RemotingCommand {
        let fields = BTreeMap::from([
            ("topic".to_string(), "TopicTest".to_string()),
            ("a".to_string(), "hello".to_string()),
        ]);
        RemotingCommand::request(310, fields).with_body(Bytes::from_static(body))
    }

    #[test]
    fn signature_matches_an_independent_hmac() {
        // Expected values from Python's hmac/hashlib/base64 over the same content.
        let creds = Credentials {
            access_key: "AK1".into(),
            secret_key: "SK1".into(),
            security_token: Some("SECTOKEN".into()),
        };
        let mut cmd = command(b"body-bytes");
        creds.sign(&mut cmd);
        assert_eq!(cmd.ext_fields["AccessKey"], "AK1");
        assert_eq!(cmd.ext_fields["SecurityToken"], "SECTOKEN");
        assert_eq!(cmd.ext_fields["Signature"], "Y1UWdevTCY2sjBIm8d5xPE6aC0k=");
        // Signing again gives the same result (GO_AWAY resends a signed command).
        let first = cmd.ext_fields.clone();
        creds.sign(&mut cmd);
        assert_eq!(cmd.ext_fields, first);

        let plain = Credentials {
            security_token: None,
            ..creds
        };
        let mut cmd =
            RemotingCommand::request(34, BTreeMap::from([("a".to_string(), "hello".to_string())]));
        plain.sign(&mut cmd);
        assert_eq!(cmd.ext_fields["Signature"], "wOJlNIgSGdJrUZqhf3WQfcVOmNc=");
        assert!(!format!("{plain:?}").contains("SK1"));
    }

    #[test]
    fn a_typed_send_header_signs_as_its_map() {
        let header = SendMessageRequestHeader {
            producer_group: "PG".into(),
            topic: "T".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 1,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            flag: 0,
            properties: "UNIQ_KEY\u{1}X\u{2}".into(),
            reconsume_times: 0,
            unit_mode: false,
            max_reconsume_times: None,
            batch: false,
            broker_name: Some("broker-a".into()),
        };
        let creds = Credentials {
            access_key: "AK".into(),
            secret_key: "SK".into(),
            security_token: None,
        };
        let mut typed = header.into_command(Bytes::from_static(b"b"));
        let mut mapped = RemotingCommand::request(typed.code, typed.all_ext_fields().into_owned())
            .with_body(Bytes::from_static(b"b"));
        creds.sign(&mut typed);
        creds.sign(&mut mapped);
        assert!(mapped.ext_fields.contains_key("Signature"));
        assert_eq!(typed.ext_fields, mapped.ext_fields);
    }
}
