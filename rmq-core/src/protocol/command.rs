//! RemotingCommand frames: `length | serializeType<<24 | headerLen | header | body`, big-endian.
//! Headers are JSON (fastjson layout) or the ROCKETMQ binary form; both decode, either encodes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::error::{Error, Result};

/// `version` sent in every request: MQVersion V5_3_3. At >= 401 the name server answers with
/// standard JSON routes, and at > 475 brokers send GO_AWAY before shutting down.
pub const CLIENT_VERSION: i32 = 479;
/// Default maximum frame length, as the Java remoting layer (16 MiB).
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// flag bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// flag bit 1: the request expects no response.
pub const FLAG_ONEWAY: i32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerializeType {
    Json = 0,
    #[default]
    RocketMq = 1,
}

/// `LanguageCode.java`; the numeric value is used in binary headers, the name in JSON ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LanguageCode {
    Java = 0,
    Cpp = 1,
    Dotnet = 2,
    Python = 3,
    Delphi = 4,
    Erlang = 5,
    Ruby = 6,
    Other = 7,
    Http = 8,
    Go = 9,
    Php = 10,
    Oms = 11,
    Rust = 12,
    NodeJs = 13,
}

#[derive(Clone)]
pub struct RemotingCommand {
    pub code: i32,
    pub language: LanguageCode,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    pub ext_fields: BTreeMap<String, String>,
    /// Ext fields written straight into the frame (see [`HeaderFields`]), besides
    /// `ext_fields`. Decoded commands never have them.
    pub typed_fields: Option<Arc<dyn HeaderFields>>,
    pub body: Bytes,
}

/// An ext-field value as it goes on the wire: numbers and flags travel as their text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    Text(&'a str),
    Int(i64),
    Bool(bool),
}

impl FieldValue<'_> {
    /// The value's text; a number is formatted into `buf` (20 bytes hold any i64).
    fn text<'b>(&'b self, buf: &'b mut [u8; 20]) -> &'b str {
        match *self {
            FieldValue::Text(text) => text,
            FieldValue::Bool(true) => "true",
            FieldValue::Bool(false) => "false",
            FieldValue::Int(n) => {
                use std::io::Write;
                let mut rest = &mut buf[..];
                let _ = write!(rest, "{n}");
                let len = 20 - rest.len();
                std::str::from_utf8(&buf[..len]).expect("digits are ASCII")
            }
        }
    }
}

/// A request header that writes its ext fields straight into the frame, so a hot request
/// (a send, once per attempt) builds no map of strings.
pub trait HeaderFields: Send + Sync {
    /// Calls `field` with every ext field, keys in byte order (fastjson's order).
    fn for_each_field(&self, field: &mut dyn FnMut(&str, FieldValue<'_>));
}

impl LanguageCode {
    const ALL: [LanguageCode; 14] = [
        LanguageCode::Java,
        LanguageCode::Cpp,
        LanguageCode::Dotnet,
        LanguageCode::Python,
        LanguageCode::Delphi,
        LanguageCode::Erlang,
        LanguageCode::Ruby,
        LanguageCode::Other,
        LanguageCode::Http,
        LanguageCode::Go,
        LanguageCode::Php,
        LanguageCode::Oms,
        LanguageCode::Rust,
        LanguageCode::NodeJs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LanguageCode::Java => "JAVA",
            LanguageCode::Cpp => "CPP",
            LanguageCode::Dotnet => "DOTNET",
            LanguageCode::Python => "PYTHON",
            LanguageCode::Delphi => "DELPHI",
            LanguageCode::Erlang => "ERLANG",
            LanguageCode::Ruby => "RUBY",
            LanguageCode::Other => "OTHER",
            LanguageCode::Http => "HTTP",
            LanguageCode::Go => "GO",
            LanguageCode::Php => "PHP",
            LanguageCode::Oms => "OMS",
            LanguageCode::Rust => "RUST",
            LanguageCode::NodeJs => "NODE_JS",
        }
    }
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == name)
    }
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|&l| l as u8 == code)
    }
}

impl SerializeType {
    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }
}

/// One frame on its way to the socket: the length words and header, then the body, which stays
/// the message's own bytes (the writer sends both parts with one vectored write).
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub head: Bytes,
    pub body: Bytes,
}

impl Frame {
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame without its first `n` bytes.
    pub fn skip(&self, n: usize) -> Frame {
        match n.checked_sub(self.head.len()) {
            None => Frame {
                head: self.head.slice(n..),
                body: self.body.clone(),
            },
            Some(into_body) => Frame {
                head: Bytes::new(),
                body: self.body.slice(into_body..),
            },
        }
    }
}

impl RemotingCommand {
    /// A request from this client: language RUST, version [`CLIENT_VERSION`], opaque 0 (the
    /// transport assigns it), empty body.
    pub fn request(code: i32, ext_fields: BTreeMap<String, String>) -> Self {
        RemotingCommand {
            code,
            language: LanguageCode::Rust,
            version: CLIENT_VERSION,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields,
            typed_fields: None,
            body: Bytes::new(),
        }
    }

    /// A request whose ext fields are `fields`, written without a map.
    pub fn typed_request(code: i32, fields: Arc<dyn HeaderFields>) -> Self {
        RemotingCommand {
            typed_fields: Some(fields),
            ..RemotingCommand::request(code, BTreeMap::new())
        }
    }

    /// Every ext field, typed ones included, as one map.
    pub fn all_ext_fields(&self) -> Cow<'_, BTreeMap<String, String>> {
        let Some(typed) = &self.typed_fields else {
            return Cow::Borrowed(&self.ext_fields);
        };
        let mut all = BTreeMap::new();
        let mut buf = [0u8; 20];
        typed.for_each_field(&mut |key, value| {
            all.insert(key.to_owned(), value.text(&mut buf).to_owned());
        });
        all.extend(self.ext_fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        Cow::Owned(all)
    }

    /// Moves the typed ext fields into `ext_fields`, for code that edits or reads the map
    /// (request signing).
    pub fn materialize_ext_fields(&mut self) {
        if self.typed_fields.is_some() {
            self.ext_fields = self.all_ext_fields().into_owned();
            self.typed_fields = None;
        }
    }

    /// Calls `field` with every ext field in key order, without a map when only typed fields
    /// are there.
    fn for_each_ext_field(&self, field: &mut dyn FnMut(&str, FieldValue<'_>)) {
        match &self.typed_fields {
            Some(typed) if self.ext_fields.is_empty() => typed.for_each_field(field),
            Some(_) => {
                for (key, value) in self.all_ext_fields().iter() {
                    field(key, FieldValue::Text(value));
                }
            }
            None => {
                for (key, value) in &self.ext_fields {
                    field(key, FieldValue::Text(value));
                }
            }
        }
    }

    pub fn with_body(self, body: Bytes) -> Self {
        RemotingCommand { body, ..self }
    }

    /// A response to the request with `opaque`.
    pub fn response(code: i32, opaque: i32, remark: Option<String>) -> Self {
        RemotingCommand {
            opaque,
            flag: FLAG_RESPONSE,
            remark,
            ..RemotingCommand::request(code, BTreeMap::new())
        }
    }

    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }
    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }
    pub fn mark_oneway(&mut self) {
        self.flag |= FLAG_ONEWAY;
    }

    /// Appends the whole frame (length prefix included) to `dst`, the header written in place.
    pub fn encode(&self, serialize: SerializeType, dst: &mut BytesMut) {
        dst.reserve(8 + 512 + self.body.len());
        self.encode_head(serialize, dst);
        dst.put_slice(&self.body);
    }

    /// The frame as the writer sends it: the body is shared, not copied.
    pub fn to_frame(&self, serialize: SerializeType) -> Frame {
        let mut head = BytesMut::with_capacity(8 + 512);
        self.encode_head(serialize, &mut head);
        Frame {
            head: head.freeze(),
            body: self.body.clone(),
        }
    }

    /// Appends the length words and the header: the frame up to its body.
    fn encode_head(&self, serialize: SerializeType, dst: &mut BytesMut) {
        let start = dst.len();
        // The length and header-length words, filled in once the header is written.
        dst.put_u64(0);
        match serialize {
            SerializeType::Json => self.write_json_header(dst),
            SerializeType::RocketMq => self.write_binary_header(dst),
        }
        let header_len = dst.len() - start - 8;
        // The 24-bit header length cannot overflow with the headers a producer builds
        // (properties are capped at 32767 bytes by validation).
        debug_assert!(header_len <= MAX_HEADER_LEN, "header of {header_len} bytes");
        let length = (4 + header_len + self.body.len()) as i32;
        let type_and_len = ((serialize as i32) << 24) | (header_len as i32 & MAX_HEADER_LEN as i32);
        dst[start..start + 4].copy_from_slice(&length.to_be_bytes());
        dst[start + 4..start + 8].copy_from_slice(&type_and_len.to_be_bytes());
    }

    /// Takes one whole frame off the front of `src` if one is there (`Ok(None)` when more bytes
    /// are needed). A frame longer than `max_frame_len` or a header that does not decode is a
    /// `Protocol` error: the connection cannot be resynchronised after it.
    pub fn decode_frame(src: &mut BytesMut, max_frame_len: usize) -> Result<Option<Self>> {
        if src.len() < 4 {
            return Ok(None);
        }
        let length = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        // The length covers the header-length word at least.
        if length < 4 {
            return Err(Error::protocol(format!("frame length {length} is below 4")));
        }
        let length = length as usize;
        // Like Netty's LengthFieldBasedFrameDecoder, the limit counts the length prefix too.
        if length + 4 > max_frame_len {
            return Err(Error::protocol(format!(
                "frame of {} bytes exceeds the maximum of {max_frame_len}",
                length + 4
            )));
        }
        if src.len() < 4 + length {
            src.reserve(4 + length - src.len());
            return Ok(None);
        }
        src.advance(4);
        let mut frame = src.split_to(length).freeze();
        let type_and_len = frame.get_u32();
        let serialize = SerializeType::from_code((type_and_len >> 24) as u8).ok_or_else(|| {
            Error::protocol(format!("unknown serialize type {}", type_and_len >> 24))
        })?;
        let header_len = (type_and_len & MAX_HEADER_LEN as u32) as usize;
        if header_len > frame.len() {
            return Err(Error::protocol(format!(
                "header length {header_len} exceeds the frame's {} bytes",
                frame.len()
            )));
        }
        let header = frame.split_to(header_len);
        let mut command = match serialize {
            SerializeType::Json => Self::from_json_header(&header)?,
            SerializeType::RocketMq => Self::from_binary_header(&header)?,
        };
        command.body = frame;
        Ok(Some(command))
    }

    /// fastjson's layout: keys sorted, `remark` omitted when null, language by name.
    fn write_json_header(&self, out: &mut BytesMut) {
        use std::fmt::Write;
        let _ = write!(out, "{{\"code\":{},\"extFields\":{{", self.code);
        let mut first = true;
        let mut buf = [0u8; 20];
        self.for_each_ext_field(&mut |key, value| {
            if !first {
                out.put_u8(b',');
            }
            first = false;
            put_json_string(out, key);
            out.put_u8(b':');
            put_json_string(out, value.text(&mut buf));
        });
        let _ = write!(
            out,
            "}},\"flag\":{},\"language\":\"{}\",\"opaque\":{}",
            self.flag,
            self.language.name(),
            self.opaque
        );
        if let Some(remark) = &self.remark {
            out.put_slice(b",\"remark\":");
            put_json_string(out, remark);
        }
        let _ = write!(
            out,
            ",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":{}}}",
            self.version
        );
    }

    /// `RocketMQSerializable`: code and version are 16-bit, strings length-prefixed, an absent
    /// remark has length 0.
    fn write_binary_header(&self, out: &mut BytesMut) {
        out.put_i16(self.code as i16);
        out.put_u8(self.language as u8);
        out.put_i16(self.version as i16);
        out.put_i32(self.opaque);
        out.put_i32(self.flag);
        let remark = self.remark.as_deref().unwrap_or("");
        out.put_i32(remark.len() as i32);
        out.put_slice(remark.as_bytes());
        // The ext map's length, filled in once its entries are written.
        let ext_start = out.len();
        out.put_i32(0);
        let mut buf = [0u8; 20];
        self.for_each_ext_field(&mut |key, value| {
            let value = value.text(&mut buf);
            out.put_i16(key.len() as i16);
            out.put_slice(key.as_bytes());
            out.put_i32(value.len() as i32);
            out.put_slice(value.as_bytes());
        });
        let ext_len = (out.len() - ext_start - 4) as i32;
        out[ext_start..ext_start + 4].copy_from_slice(&ext_len.to_be_bytes());
    }

    /// Tolerant like fastjson: unknown fields ignored, `extFields` may be missing or null, ext
    /// values that are numbers or booleans become their text. Read field by field into
    /// [`JsonHeader`], no `serde_json::Value` tree in between.
    pub(crate) fn from_json_header(header: &[u8]) -> Result<Self> {
        let parsed: JsonHeader<'_> = serde_json::from_slice(header)
            .map_err(|e| Error::protocol(format!("JSON header does not parse: {e}")))?;
        let int = |name: &str, value: Option<i64>| -> Result<i32> {
            let value = value.unwrap_or_default();
            i32::try_from(value)
                .map_err(|_| Error::protocol(format!("JSON header field {name} is {value}")))
        };
        let language = match parsed.language {
            Some(JsonScalar::Str(name)) => LanguageCode::from_name(&name),
            Some(JsonScalar::Other(text)) => text.parse().ok().and_then(LanguageCode::from_code),
            _ => None,
        }
        .unwrap_or(LanguageCode::Other);
        let remark = match parsed.remark {
            None | Some(JsonScalar::Null) => None,
            Some(JsonScalar::Str(text)) => Some(text.into_owned()),
            Some(JsonScalar::Other(text)) => Some(text),
        };
        Ok(RemotingCommand {
            code: int("code", parsed.code)?,
            language,
            version: int("version", parsed.version)?,
            opaque: int("opaque", parsed.opaque)?,
            flag: int("flag", parsed.flag)?,
            remark,
            ext_fields: parsed.ext_fields.map(|ext| ext.0).unwrap_or_default(),
            typed_fields: None,
            body: Bytes::new(),
        })
    }

    pub(crate) fn from_binary_header(header: &[u8]) -> Result<Self> {
        let mut reader = BinaryReader(header);
        let code = reader.i16("code")? as i32;
        let language =
            LanguageCode::from_code(reader.u8("language")?).unwrap_or(LanguageCode::Other);
        let version = reader.i16("version")? as i32;
        let opaque = reader.i32("opaque")?;
        let flag = reader.i32("flag")?;
        let remark_len = reader.len_i32("remark length")?;
        let remark = reader.string(remark_len, "remark")?;
        let remark = (!remark.is_empty()).then(|| remark.to_owned());
        let ext_len = reader.len_i32("extFields length")?;
        let mut ext = BinaryReader(reader.take(ext_len, "extFields")?);
        let mut ext_fields = BTreeMap::new();
        while !ext.0.is_empty() {
            let key_len = ext.i16("ext key length")?;
            let key_len = usize::try_from(key_len)
                .map_err(|_| Error::protocol(format!("negative ext key length {key_len}")))?;
            let key = ext.string(key_len, "ext key")?;
            let value_len = ext.len_i32("ext value length")?;
            let value = ext.string(value_len, "ext value")?;
            ext_fields.insert(key.to_owned(), value.to_owned());
        }
        Ok(RemotingCommand {
            code,
            language,
            version,
            opaque,
            flag,
            remark,
            ext_fields,
            typed_fields: None,
            body: Bytes::new(),
        })
    }
}

/// A JSON header as received. Strings without escapes are borrowed from the frame.
#[derive(Deserialize)]
struct JsonHeader<'a> {
    code: Option<i64>,
    #[serde(borrow)]
    language: Option<JsonScalar<'a>>,
    version: Option<i64>,
    opaque: Option<i64>,
    flag: Option<i64>,
    #[serde(borrow)]
    remark: Option<JsonScalar<'a>>,
    #[serde(rename = "extFields")]
    ext_fields: Option<ExtFieldMap>,
}

/// A JSON value where text is expected: a string (borrowed when it can be), null, or
/// anything else as its JSON text.
enum JsonScalar<'a> {
    Null,
    Str(Cow<'a, str>),
    Other(String),
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonScalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = JsonScalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(JsonScalar::Null)
    }
    fn visit_none<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(JsonScalar::Null)
    }
    fn visit_borrowed_str<E>(self, text: &'de str) -> std::result::Result<Self::Value, E> {
        Ok(JsonScalar::Str(Cow::Borrowed(text)))
    }
    fn visit_str<E>(self, text: &str) -> std::result::Result<Self::Value, E> {
        Ok(JsonScalar::Str(Cow::Owned(text.to_owned())))
    }
    fn visit_string<E>(self, text: String) -> std::result::Result<Self::Value, E> {
        Ok(JsonScalar::Str(Cow::Owned(text)))
    }
    fn visit_bool<E>(self, value: bool) -> std::result::Result<Self::Value, E> {
        Ok(JsonScalar::Other(value.to_string()))
    }
    fn visit_i64<E>(self, value: i64) -> std::result::Result<Self::Value, E> {
        Ok(JsonScalar::Other(value.to_string()))
    }
    fn visit_u64<E>(self, value: u64) -> std::result::Result<Self::Value, E> {
        Ok(JsonScalar::Other(value.to_string()))
    }
    fn visit_f64<E>(self, value: f64) -> std::result::Result<Self::Value, E> {
        Ok(JsonScalar::Other(Value::from(value).to_string()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<Self::Value, A::Error> {
        let value = Value::deserialize(SeqAccessDeserializer::new(seq))?;
        Ok(JsonScalar::Other(value.to_string()))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Self::Value, A::Error> {
        let value = Value::deserialize(MapAccessDeserializer::new(map))?;
        Ok(JsonScalar::Other(value.to_string()))
    }
}

/// `extFields` straight into the command's map; null values are left out.
struct ExtFieldMap(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for ExtFieldMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(ExtFieldVisitor)
    }
}

struct ExtFieldVisitor;

impl<'de> Visitor<'de> for ExtFieldVisitor {
    type Value = ExtFieldMap;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of ext fields")
    }
    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut fields = BTreeMap::new();
        while let Some((key, value)) = map.next_entry::<Cow<'de, str>, JsonScalar<'de>>()? {
            let text = match value {
                JsonScalar::Null => continue,
                JsonScalar::Str(text) => text.into_owned(),
                JsonScalar::Other(text) => text,
            };
            fields.insert(key.into_owned(), text);
        }
        Ok(ExtFieldMap(fields))
    }
}

/// The header length field has 24 bits.
const MAX_HEADER_LEN: usize = 0x00FF_FFFF;

impl PartialEq for RemotingCommand {
    /// Typed and mapped ext fields compare by their wire text.
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
            && self.language == other.language
            && self.version == other.version
            && self.opaque == other.opaque
            && self.flag == other.flag
            && self.remark == other.remark
            && self.body == other.body
            && self.all_ext_fields() == other.all_ext_fields()
    }
}

impl fmt::Debug for RemotingCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemotingCommand")
            .field("code", &self.code)
            .field("language", &self.language)
            .field("version", &self.version)
            .field("opaque", &self.opaque)
            .field("flag", &self.flag)
            .field("remark", &self.remark)
            .field("ext_fields", &self.all_ext_fields())
            .field("body", &self.body)
            .finish()
    }
}

/// A JSON string with serde_json's escapes: `"`, `\\`, the short forms of \b \f \n \r \t,
/// `\u00xx` for the other control characters; everything else as is.
fn put_json_string(out: &mut BytesMut, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put_u8(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let short: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.put_slice(&bytes[start..i]);
        if short.is_empty() {
            out.put_slice(b"\\u00");
            out.put_u8(HEX[usize::from(byte >> 4)]);
            out.put_u8(HEX[usize::from(byte & 0xf)]);
        } else {
            out.put_slice(short);
        }
        start = i + 1;
    }
    out.put_slice(&bytes[start..]);
    out.put_u8(b'"');
}

/// Bounds-checked big-endian reads from a binary header; running short is a `Protocol` error.
struct BinaryReader<'a>(&'a [u8]);

impl<'a> BinaryReader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(Error::protocol(format!(
                "binary header truncated reading {what}: need {n} bytes, {} left",
                self.0.len()
            )));
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(taken)
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        Ok(self.take(N, what)?.try_into().expect("took N bytes"))
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    fn i16(&mut self, what: &str) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }
    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }
    /// An i32 length that must be non-negative.
    fn len_i32(&mut self, what: &str) -> Result<usize> {
        let len = self.i32(what)?;
        usize::try_from(len).map_err(|_| Error::protocol(format!("negative {what} {len}")))
    }
    fn string(&mut self, n: usize, what: &str) -> Result<&'a str> {
        std::str::from_utf8(self.take(n, what)?)
            .map_err(|_| Error::protocol(format!("binary header {what} is not UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn frame(serialize: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((4 + header.len() + body.len()) as i32).to_be_bytes());
        out.extend_from_slice(&(((serialize as u32) << 24) | header.len() as u32).to_be_bytes());
        out.extend_from_slice(header);
        out.extend_from_slice(body);
        out
    }

    fn decode_one(bytes: &[u8]) -> Result<Option<RemotingCommand>> {
        RemotingCommand::decode_frame(&mut BytesMut::from(bytes), DEFAULT_MAX_FRAME_LEN)
    }

    #[test]
    fn language_names_and_codes() {
        assert_eq!(LanguageCode::Rust.name(), "RUST");
        assert_eq!(
            LanguageCode::from_name("NODE_JS"),
            Some(LanguageCode::NodeJs)
        );
        assert_eq!(LanguageCode::from_name("COBOL"), None);
        assert_eq!(LanguageCode::from_code(12), Some(LanguageCode::Rust));
        assert_eq!(LanguageCode::from_code(0), Some(LanguageCode::Java));
        assert_eq!(LanguageCode::from_code(14), None);
    }

    #[test]
    fn request_response_and_flags() {
        let mut req = RemotingCommand::request(105, ext(&[("topic", "T")]));
        assert_eq!(req.language, LanguageCode::Rust);
        assert_eq!(req.version, CLIENT_VERSION);
        assert!(!req.is_response() && !req.is_oneway());
        req.mark_oneway();
        assert!(req.is_oneway());
        assert_eq!(req.flag, 2);
        let resp = RemotingCommand::response(3, 42, Some("no".into()));
        assert!(resp.is_response());
        assert_eq!((resp.opaque, resp.flag), (42, 1));
        let with_body = RemotingCommand::request(10, BTreeMap::new()).with_body(Bytes::from("b"));
        assert_eq!(with_body.body, Bytes::from("b"));
    }

    #[test]
    fn a_frame_shares_the_body_and_reads_as_the_whole_encoding() {
        let body = Bytes::from(vec![7u8; 300]);
        let cmd = RemotingCommand::request(310, ext(&[("topic", "T")])).with_body(body.clone());
        for serialize in [SerializeType::Json, SerializeType::RocketMq] {
            let mut whole = BytesMut::new();
            cmd.encode(serialize, &mut whole);
            let frame = cmd.to_frame(serialize);
            assert_eq!(frame.body.as_ptr(), body.as_ptr(), "the body was copied");
            assert_eq!(frame.len(), whole.len());
            // Every cut point, in the header or in the body, leaves exactly the rest.
            for cut in 0..=whole.len() {
                let rest = frame.skip(cut);
                assert_eq!(
                    [&rest.head[..], &rest.body[..]].concat(),
                    &whole[cut..],
                    "cut {cut}"
                );
            }
        }
    }

    #[test]
    fn encodes_json_request_like_fastjson() {
        let mut req = RemotingCommand::request(
            105,
            ext(&[("topic", "TopicTest"), ("acceptStandardJsonOnly", "true")]),
        );
        req.opaque = 7;
        let mut dst = BytesMut::new();
        req.encode(SerializeType::Json, &mut dst);
        let header = br#"{"code":105,"extFields":{"acceptStandardJsonOnly":"true","topic":"TopicTest"},"flag":0,"language":"RUST","opaque":7,"serializeTypeCurrentRPC":"JSON","version":479}"#;
        assert_eq!(&dst[..], &frame(0, header, b"")[..]);
    }

    #[test]
    fn json_escapes_control_characters_and_writes_remark() {
        let mut req = RemotingCommand::request(310, ext(&[("i", "TAGS\u{1}a\"b\u{2}")]))
            .with_body(Bytes::from_static(b"hi"));
        req.remark = Some("r".into());
        let mut dst = BytesMut::new();
        req.encode(SerializeType::Json, &mut dst);
        let header = br#"{"code":310,"extFields":{"i":"TAGS\u0001a\"b\u0002"},"flag":0,"language":"RUST","opaque":0,"remark":"r","serializeTypeCurrentRPC":"JSON","version":479}"#;
        assert_eq!(&dst[..], &frame(0, header, b"hi")[..]);
        let back = decode_one(&dst).unwrap().unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn encodes_binary_request_by_hand() {
        let mut req = RemotingCommand::request(34, ext(&[("k", "v")])).with_body(Bytes::from("xy"));
        req.opaque = 0x0102_0304;
        req.remark = Some("re".into());
        let mut dst = BytesMut::new();
        req.encode(SerializeType::RocketMq, &mut dst);
        #[rustfmt::skip]
        let header: &[u8] = &[
            0, 34,          // code
            12,             // language RUST
            0x01, 0xDF,     // version 479
            1, 2, 3, 4,     // opaque
            0, 0, 0, 0,     // flag
            0, 0, 0, 2, b'r', b'e',
            0, 0, 0, 8,     // ext map length
            0, 1, b'k', 0, 0, 0, 1, b'v',
        ];
        assert_eq!(&dst[..], &frame(1, header, b"xy")[..]);
    }

    #[test]
    fn binary_round_trip() {
        let mut cmd = RemotingCommand::response(0, 99, None);
        cmd.ext_fields = ext(&[("msgId", "ABC"), ("queueId", "3"), ("ü", "é")]);
        cmd.body = Bytes::from_static(b"\x00\x01body");
        let mut dst = BytesMut::new();
        cmd.encode(SerializeType::RocketMq, &mut dst);
        cmd.encode(SerializeType::Json, &mut dst);
        let mut src = dst;
        let first = RemotingCommand::decode_frame(&mut src, DEFAULT_MAX_FRAME_LEN).unwrap();
        let second = RemotingCommand::decode_frame(&mut src, DEFAULT_MAX_FRAME_LEN).unwrap();
        assert_eq!(first.as_ref(), Some(&cmd));
        assert_eq!(second.as_ref(), Some(&cmd));
        assert!(src.is_empty());
        assert_eq!(
            RemotingCommand::decode_frame(&mut src, DEFAULT_MAX_FRAME_LEN).unwrap(),
            None
        );
    }

    #[test]
    fn binary_empty_remark_decodes_as_none() {
        let mut dst = BytesMut::new();
        RemotingCommand::response(1, 1, Some(String::new()))
            .encode(SerializeType::RocketMq, &mut dst);
        assert_eq!(decode_one(&dst).unwrap().unwrap().remark, None);
    }

    #[test]
    fn decodes_captured_java_send_response() {
        let header = br#"{"code":0,"extFields":{"msgId":"7F00000100002A9F0000000000000000","queueId":"1","queueOffset":"0","MSG_REGION":"DefaultRegion","TRACE_ON":"true"},"flag":1,"language":"JAVA","opaque":5,"serializeTypeCurrentRPC":"JSON","version":479}"#;
        let cmd = decode_one(&frame(0, header, b"")).unwrap().unwrap();
        assert_eq!(cmd.code, 0);
        assert_eq!(cmd.language, LanguageCode::Java);
        assert_eq!((cmd.opaque, cmd.flag, cmd.version), (5, 1, 479));
        assert!(cmd.is_response());
        assert_eq!(cmd.remark, None);
        assert_eq!(cmd.ext_fields["msgId"], "7F00000100002A9F0000000000000000");
        assert_eq!(cmd.ext_fields["queueId"], "1");
        assert_eq!(cmd.ext_fields["TRACE_ON"], "true");
        assert_eq!(cmd.ext_fields.len(), 5);
        assert!(cmd.body.is_empty());
    }

    #[test]
    fn json_decode_is_tolerant() {
        let header = br#"{"flag":1,"opaque":2,"code":17,"remark":"No topic route info","language":"KOTLIN","extFields":null,"unknown":[1,{"a":2}],"version":403}"#;
        let cmd = decode_one(&frame(0, header, b"body")).unwrap().unwrap();
        assert_eq!(cmd.code, 17);
        assert_eq!(cmd.language, LanguageCode::Other);
        assert_eq!(cmd.remark.as_deref(), Some("No topic route info"));
        assert!(cmd.ext_fields.is_empty());
        assert_eq!(&cmd.body[..], b"body");

        let header = br#"{"code":0,"extFields":{"queueId":3,"traceOn":false,"gone":null,"s":"x"},"flag":1,"opaque":2}"#;
        let cmd = decode_one(&frame(0, header, b"")).unwrap().unwrap();
        assert_eq!(
            cmd.ext_fields,
            ext(&[("queueId", "3"), ("traceOn", "false"), ("s", "x")])
        );
        assert_eq!(cmd.language, LanguageCode::Other);
        assert_eq!(cmd.version, 0);
    }

    #[test]
    fn partial_frames_fed_byte_by_byte() {
        let mut req = RemotingCommand::request(310, ext(&[("a", "G"), ("b", "T")]));
        req.body = Bytes::from(vec![7u8; 300]);
        for serialize in [SerializeType::Json, SerializeType::RocketMq] {
            let mut whole = BytesMut::new();
            req.encode(serialize, &mut whole);
            req.encode(serialize, &mut whole);
            let mut src = BytesMut::new();
            let mut decoded = Vec::new();
            for &byte in whole.iter() {
                src.put_u8(byte);
                while let Some(cmd) =
                    RemotingCommand::decode_frame(&mut src, DEFAULT_MAX_FRAME_LEN).unwrap()
                {
                    decoded.push(cmd);
                }
            }
            assert_eq!(decoded, vec![req.clone(), req.clone()]);
            assert!(src.is_empty());
        }
    }

    #[test]
    fn oversize_frame_is_a_protocol_error() {
        let mut src = BytesMut::new();
        src.put_i32(1000);
        let err = RemotingCommand::decode_frame(&mut src, 100).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Protocol);
        assert!(err.message().contains("exceeds"), "{err}");
        // Exactly at the limit is fine once whole.
        let mut dst = BytesMut::new();
        RemotingCommand::response(0, 1, None).encode(SerializeType::RocketMq, &mut dst);
        let max = dst.len();
        assert!(
            RemotingCommand::decode_frame(&mut dst.clone(), max)
                .unwrap()
                .is_some()
        );
        assert!(RemotingCommand::decode_frame(&mut dst, max - 1).is_err());
    }

    #[test]
    fn inconsistent_lengths_are_protocol_errors() {
        for bytes in [
            // length below 4
            vec![0, 0, 0, 2, 0, 0],
            // negative length
            vec![0xFF, 0xFF, 0xFF, 0xFF],
            // header length 10 > frame's 4 remaining bytes
            vec![0, 0, 0, 8, 0, 0, 0, 10, b'{', b'}', b' ', b' '],
            // serialize type 2
            vec![0, 0, 0, 6, 2, 0, 0, 2, b'{', b'}'],
        ] {
            let err = decode_one(&bytes).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Protocol, "{bytes:?}");
        }
    }

    #[test]
    fn garbage_headers_are_protocol_errors() {
        let cases: Vec<Vec<u8>> = vec![
            frame(0, b"not json", b""),
            frame(0, b"[1,2]", b""),
            frame(0, br#"{"code":"x"}"#, b""),
            frame(0, br#"{"code":1,"extFields":[1]}"#, b""),
            frame(0, &[0xFF, 0xFE], b""),
            // binary header too short for its fixed part
            frame(1, &[0, 1, 2], b""),
            // binary remark length larger than the header
            frame(
                1,
                &[0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100],
                b"",
            ),
            // negative remark length
            frame(
                1,
                &[
                    0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
                ],
                b"",
            ),
            // ext entry truncated
            frame(
                1,
                &[
                    0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 5, b'k',
                ],
                b"",
            ),
        ];
        for bytes in cases {
            let err = decode_one(&bytes).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Protocol, "{bytes:?}");
        }
    }

    #[test]
    fn json_strings_escape_as_serde_json() {
        let mut every: String = (0u8..0x80).map(char::from).collect();
        every.push_str("é€😀\u{2028}");
        for text in [every.as_str(), "", "plain", "\"", "\\\u{1}"] {
            let mut out = BytesMut::new();
            put_json_string(&mut out, text);
            assert_eq!(&out[..], serde_json::to_string(text).unwrap().as_bytes());
        }
    }

    struct TwoFields;

    impl HeaderFields for TwoFields {
        fn for_each_field(&self, field: &mut dyn FnMut(&str, FieldValue<'_>)) {
            field("b", FieldValue::Int(-42));
            field("d", FieldValue::Bool(true));
        }
    }

    #[test]
    fn typed_fields_encode_merge_and_materialize_like_a_map() {
        let mut typed = RemotingCommand::typed_request(310, Arc::new(TwoFields));
        let map = RemotingCommand::request(310, ext(&[("b", "-42"), ("d", "true")]));
        assert_eq!(typed, map);
        for serialize in [SerializeType::Json, SerializeType::RocketMq] {
            let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
            typed.encode(serialize, &mut a);
            map.encode(serialize, &mut b);
            assert_eq!(a, b);
        }
        // Map fields added beside typed ones are merged in key order.
        typed.ext_fields.insert("a".into(), "1".into());
        typed.ext_fields.insert("c".into(), "2".into());
        let merged = ext(&[("a", "1"), ("b", "-42"), ("c", "2"), ("d", "true")]);
        let mut dst = BytesMut::new();
        typed.encode(SerializeType::Json, &mut dst);
        assert_eq!(decode_one(&dst).unwrap().unwrap().ext_fields, merged);
        typed.materialize_ext_fields();
        assert!(typed.typed_fields.is_none());
        assert_eq!(typed.ext_fields, merged);
    }

    #[test]
    fn json_decode_reads_escapes_numbers_and_nested_values() {
        let header = br#"{"code":0,"language":12,"remark":{"x":[1]},"extFields":{"p":"a\u0001b\"c","f":1.5,"n":-7,"o":{"k":[true,null]},"\u00e9":"\u00fc"},"flag":1,"opaque":9,"version":479}"#;
        let cmd = decode_one(&frame(0, header, b"")).unwrap().unwrap();
        assert_eq!(cmd.language, LanguageCode::Rust);
        assert_eq!(cmd.remark.as_deref(), Some(r#"{"x":[1]}"#));
        assert_eq!(
            cmd.ext_fields,
            ext(&[
                ("p", "a\u{1}b\"c"),
                ("f", "1.5"),
                ("n", "-7"),
                ("o", r#"{"k":[true,null]}"#),
                ("é", "ü"),
            ])
        );
        assert_eq!((cmd.opaque, cmd.flag, cmd.version), (9, 1, 479));
        // Out of i32 range is refused, like any other non-i32 number.
        let err = decode_one(&frame(0, br#"{"code":4294967296}"#, b"")).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Protocol);
    }
}
