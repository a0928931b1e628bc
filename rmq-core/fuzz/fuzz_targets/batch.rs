//! The body of a batch send: records written by `batch::encode_record`, read back the way the
//! broker splits them (`MessageDecoder.decodeMessages`: totalSize first). The core has no batch
//! decoder of its own, so the reader is here.
#![no_main]

use bytes::{Buf, BytesMut};
use libfuzzer_sys::fuzz_target;
use rmq_core::ErrorKind;
use rmq_core::protocol::batch::encode_record;
use rmq_core::protocol::validate::MAX_PROPERTIES_LEN;

/// One record as the broker reads it.
#[derive(Debug, PartialEq)]
struct Record<'a> {
    flag: i32,
    body: &'a [u8],
    properties: &'a [u8],
}

fn read_records(mut body: &[u8]) -> Vec<Record<'_>> {
    let mut records = Vec::new();
    while !body.is_empty() {
        let total = usize::try_from(body.get_i32()).expect("positive total size");
        let (mut record, rest) = body.split_at(total - 4);
        body = rest;
        assert_eq!(record.get_i32(), 0, "magic");
        assert_eq!(record.get_i32(), 0, "body CRC");
        let flag = record.get_i32();
        let body_len = usize::try_from(record.get_i32()).expect("positive body length");
        let (body, mut rest) = record.split_at(body_len);
        let properties_len = usize::try_from(rest.get_i16()).expect("positive properties length");
        assert_eq!(
            rest.len(),
            properties_len,
            "the record ends with its properties"
        );
        records.push(Record {
            flag,
            body,
            properties: rest,
        });
    }
    records
}

fuzz_target!(|messages: Vec<(i32, &[u8], &str)>| {
    let mut dst = BytesMut::new();
    let mut written = Vec::new();
    for &(flag, body, properties) in &messages {
        match encode_record(&mut dst, flag, body, properties) {
            Ok(()) => written.push(Record {
                flag,
                body,
                properties: properties.as_bytes(),
            }),
            Err(e) => {
                assert!(properties.len() > MAX_PROPERTIES_LEN, "{e}");
                assert_eq!(e.kind(), ErrorKind::InvalidMessage);
            }
        }
    }
    assert_eq!(read_records(&dst), written);
});
