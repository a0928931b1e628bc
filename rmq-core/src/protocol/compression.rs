//! Body compression as the Java client does it (`CompressionType`, `CompressorFactory`): zlib
//! streams (RFC 1950), LZ4 frames, standard zstd frames; the type goes in sysFlag bits 8..10.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::write::ZlibEncoder;

use crate::protocol::message::sys_flag;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompressionType {
    #[default]
    Zlib,
    Lz4,
    Zstd,
}

impl CompressionType {
    pub fn name(self) -> &'static str {
        match self {
            CompressionType::Zlib => "zlib",
            CompressionType::Lz4 => "lz4",
            CompressionType::Zstd => "zstd",
        }
    }

    /// Parses a name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "zlib" => Some(CompressionType::Zlib),
            "lz4" => Some(CompressionType::Lz4),
            "zstd" => Some(CompressionType::Zstd),
            _ => None,
        }
    }

    /// The sysFlag of a body compressed this way: COMPRESSED plus the type bits.
    pub fn sys_flag(self) -> i32 {
        sys_flag::COMPRESSED
            | match self {
                CompressionType::Zlib => sys_flag::COMPRESSION_ZLIB,
                CompressionType::Lz4 => sys_flag::COMPRESSION_LZ4,
                CompressionType::Zstd => sys_flag::COMPRESSION_ZSTD,
            }
    }

    /// The type of a compressed body by its sysFlag (type 0, from old clients, is zlib).
    pub fn of_sys_flag(flag: i32) -> Self {
        match flag & 0x700 {
            sys_flag::COMPRESSION_LZ4 => CompressionType::Lz4,
            sys_flag::COMPRESSION_ZSTD => CompressionType::Zstd,
            _ => CompressionType::Zlib,
        }
    }

    /// Decompresses `body`; `None` if it is not valid data of this type.
    pub fn decompress(self, body: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(body.len() * 4);
        match self {
            CompressionType::Zlib => {
                flate2::read::ZlibDecoder::new(body)
                    .read_to_end(&mut out)
                    .ok()?;
            }
            CompressionType::Lz4 => {
                lz4_flex::frame::FrameDecoder::new(body)
                    .read_to_end(&mut out)
                    .ok()?;
            }
            CompressionType::Zstd => {
                zstd::stream::read::Decoder::new(body)
                    .ok()?
                    .read_to_end(&mut out)
                    .ok()?;
            }
        }
        Some(out)
    }

    /// Compresses `body`; `None` if that fails (Java then sends the raw body). `level` is the
    /// zlib (0..=9) or zstd level; LZ4 has none.
    pub fn compress(self, body: &[u8], level: u32) -> Option<Vec<u8>> {
        match self {
            CompressionType::Zlib => compress_zlib(body, level),
            CompressionType::Lz4 => {
                let mut encoder =
                    lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(body.len() / 2));
                encoder.write_all(body).ok()?;
                encoder.finish().ok()
            }
            CompressionType::Zstd => zstd::bulk::compress(body, level as i32).ok(),
        }
    }
}

/// zlib (RFC 1950) compression at `level`; `None` if it fails.
///
/// Levels above 9 fail, as `java.util.zip.Deflater` rejects them.
pub fn compress_zlib(body: &[u8], level: u32) -> Option<Vec<u8>> {
    if level > 9 {
        return None;
    }
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(body.len() / 2), Compression::new(level));
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Vec<u8> {
        (0..20_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn lz4_is_a_standard_frame() {
        let body = body();
        let packed = CompressionType::Lz4.compress(&body, 5).unwrap();
        assert_eq!(&packed[..4], &[0x04, 0x22, 0x4D, 0x18], "LZ4 frame magic");
        let mut back = Vec::new();
        lz4_flex::frame::FrameDecoder::new(&packed[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, body);
    }

    #[test]
    fn zstd_is_a_standard_frame() {
        let body = body();
        let packed = CompressionType::Zstd.compress(&body, 5).unwrap();
        assert_eq!(&packed[..4], &[0x28, 0xB5, 0x2F, 0xFD], "zstd frame magic");
        assert_eq!(zstd::stream::decode_all(&packed[..]).unwrap(), body);
    }

    #[test]
    fn every_type_round_trips() {
        let body = body();
        for t in [
            CompressionType::Zlib,
            CompressionType::Lz4,
            CompressionType::Zstd,
        ] {
            let packed = t.compress(&body, 5).unwrap();
            assert_eq!(CompressionType::of_sys_flag(t.sys_flag()), t);
            assert_eq!(t.decompress(&packed).unwrap(), body, "{}", t.name());
            assert_eq!(t.decompress(b"not compressed"), None, "{}", t.name());
        }
        assert_eq!(CompressionType::of_sys_flag(0x1), CompressionType::Zlib);
    }

    #[test]
    fn names_and_flags() {
        for (name, flag) in [("zlib", 0x301), ("LZ4", 0x101), ("zstd", 0x201)] {
            let t = CompressionType::from_name(name).unwrap();
            assert_eq!(t.sys_flag(), flag);
            assert_eq!(t.name(), name.to_ascii_lowercase());
        }
        assert_eq!(CompressionType::from_name("gzip"), None);
    }

    #[test]
    fn zlib_compression_round_trip() {
        let body: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 97).to_be_bytes())
            .collect();
        let compressed = compress_zlib(&body, 5).unwrap();
        assert!(compressed.len() < body.len() / 4);
        assert_eq!(compressed[0], 0x78, "zlib header");
        let mut back = Vec::new();
        flate2::read::ZlibDecoder::new(&compressed[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, body);
        assert!(compress_zlib(b"", 0).is_some());
        assert_eq!(compress_zlib(b"x", 10), None);
    }
}
