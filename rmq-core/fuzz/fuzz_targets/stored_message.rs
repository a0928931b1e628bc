//! A store-format message record (`MessageDecoder.decode`), as a transaction check carries it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmq_core::ErrorKind;
use rmq_core::protocol::message::{decode_properties, encode_properties, sys_flag};
use rmq_core::protocol::stored::StoredMessage;

/// sysFlag bits: the born and store hosts are IPv6.
const BORNHOST_V6: i32 = 0x10;
const STOREHOST_V6: i32 = 0x20;

fuzz_target!(|record: &[u8]| {
    let msg = match StoredMessage::decode(record) {
        Ok(msg) => msg,
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
            return;
        }
    };
    assert_eq!(msg.born_host.is_ipv6(), msg.sys_flag & BORNHOST_V6 != 0);
    assert_eq!(msg.store_host.is_ipv6(), msg.sys_flag & STOREHOST_V6 != 0);
    assert!(msg.topic.len() < record.len());
    if msg.sys_flag & sys_flag::COMPRESSED == 0 {
        assert!(msg.body.len() < record.len());
    }
    // The properties are what the property parser keeps, so they survive a re-encoding.
    let encoded = encode_properties(msg.properties.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    assert_eq!(decode_properties(&encoded), msg.properties);
    // Appended bytes are not part of the record.
    let mut longer = record.to_vec();
    longer.extend_from_slice(b"\xDA\xA3\x20\xAB trailing");
    assert_eq!(StoredMessage::decode(&longer).as_ref().ok(), Some(&msg));
    let plain = msg.to_message(Some("NS"));
    assert_eq!(plain.body, msg.body);
    for property in &plain.properties {
        assert!(msg.properties.contains(property), "{property:?}");
    }
});
