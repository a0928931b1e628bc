//! The message property string (`name \x01 value \x02` pairs), as in headers and stored records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmq_core::protocol::message::{decode_properties, encode_properties};

fuzz_target!(|text: &str| {
    let pairs = decode_properties(text);
    for (name, value) in &pairs {
        assert!(!name.is_empty() && !value.is_empty(), "{name:?}={value:?}");
        assert!(!name.contains(['\u{1}', '\u{2}']), "{name:?}");
        assert!(!value.contains('\u{2}'), "{value:?}");
    }
    // What was kept encodes to a string that decodes to the same pairs.
    let encoded = encode_properties(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    assert!(encoded.len() <= text.len() + 2 * pairs.len());
    assert_eq!(decode_properties(&encoded), pairs);
});
