//! Message ids: the client's unique id (UNIQ_KEY) and the broker's offset message id.

use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Buf;

use crate::error::{Error, Result};

/// Generates UNIQ_KEY ids: ip (4|16) · pid i16 · random i32 · ms since month start i32 · counter i16,
/// as uppercase hex.
///
/// The random i32 stands in for Java's class loader hash, so two generators (or processes with
/// a recycled pid) differ. The month starts on day 1 at 00:00 local time, as Java's
/// `MessageClientIDSetter` (4.9.x tools look messages up by that time). Time and counter advance together as one 48-bit
/// sequence: ids of one generator strictly increase, and more than 65536 ids in one millisecond
/// borrow the next millisecond instead of repeating.
#[derive(Debug)]
pub struct UniqIdGenerator {
    /// Hex of ip · pid · random.
    prefix: String,
    /// Epoch milliseconds << 16 | counter of the last id.
    last: AtomicU64,
    /// The current local month as [start, next start) in epoch ms.
    month: parking_lot::Mutex<(u64, u64)>,
}

impl UniqIdGenerator {
    /// A generator for ids of this process on the host with address `ip`.
    pub fn new(ip: IpAddr) -> Self {
        let mut fixed = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        fixed.extend_from_slice(&(std::process::id() as i16).to_be_bytes());
        fixed.extend_from_slice(&random_u32().to_be_bytes());
        UniqIdGenerator {
            prefix: to_hex(&fixed),
            last: AtomicU64::new(0),
            month: parking_lot::Mutex::new((0, 0)),
        }
    }

    pub fn next_id(&self) -> String {
        self.id_at(epoch_ms())
    }

    /// The next id when the clock reads `now_ms`.
    fn id_at(&self, now_ms: u64) -> String {
        let now = now_ms << 16;
        let advance = |last: u64| now.max(last + 1);
        // The closure always returns Some, so this is Ok(previous value).
        let previous = self
            .last
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(advance(last))
            })
            .unwrap_or_else(|last| last);
        let current = advance(previous);
        let ms = current >> 16;
        let since_month_start = ms.saturating_sub(self.month_start(ms)) as u32;
        format!(
            "{}{since_month_start:08X}{:04X}",
            self.prefix, current as u16
        )
    }

    /// The start of the local month of `ms`, recomputed only when a month ends.
    fn month_start(&self, ms: u64) -> u64 {
        let mut month = self.month.lock();
        if !(month.0..month.1).contains(&ms) {
            *month = month_window(ms, &chrono::Local)
                .or_else(|| month_window(ms, &chrono::Utc))
                .unwrap_or((ms, ms + 1));
        }
        month.0
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The month containing `ms` (epoch ms) in time zone `tz`, as [day 1 00:00, next day 1
/// 00:00) in epoch ms. A midnight skipped by a daylight-saving change counts from 01:00.
fn month_window<Tz: chrono::TimeZone>(ms: u64, tz: &Tz) -> Option<(u64, u64)> {
    use chrono::{Datelike, Months, NaiveDate, TimeDelta};
    let local = tz.timestamp_millis_opt(ms as i64).single()?.naive_local();
    let first = NaiveDate::from_ymd_opt(local.year(), local.month(), 1)?.and_hms_opt(0, 0, 0)?;
    let next = first.checked_add_months(Months::new(1))?;
    let epoch_ms = |naive: chrono::NaiveDateTime| {
        tz.from_local_datetime(&naive)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(naive + TimeDelta::hours(1)))
                    .earliest()
            })
            .map(|t| t.timestamp_millis().max(0) as u64)
    };
    Some((epoch_ms(first)?, epoch_ms(next)?))
}

/// 32 random bits from the standard library's randomly keyed hasher (no extra dependency).
fn random_u32() -> u32 {
    let seed = (SystemTime::now(), std::process::id());
    std::collections::hash_map::RandomState::new().hash_one(seed) as u32
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Decodes an offset message id into the store host and commit log offset.
///
/// The id is hex of ip (4 or 16 bytes) · port i32 · offset i64: 32 or 56 characters.
pub fn decode_offset_msg_id(id: &str) -> Result<(SocketAddr, i64)> {
    let bad = |why: &str| Error::protocol(format!("offset message id {id:?} {why}"));
    let ipv6 = match id.len() {
        32 => false,
        56 => true,
        n => return Err(bad(&format!("has {n} characters, expected 32 or 56"))),
    };
    let hex_digit = |b: u8| char::from(b).to_digit(16);
    let bytes = id
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| Some((hex_digit(pair[0])? * 16 + hex_digit(pair[1])?) as u8))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| bad("is not hexadecimal"))?;
    // The length check above makes every read below in bounds.
    let mut buf = &bytes[..];
    let ip = if ipv6 {
        let mut octets = [0u8; 16];
        buf.copy_to_slice(&mut octets);
        IpAddr::from(octets)
    } else {
        let mut octets = [0u8; 4];
        buf.copy_to_slice(&mut octets);
        IpAddr::from(octets)
    };
    let port = buf.get_i32();
    let port = u16::try_from(port).map_err(|_| bad(&format!("has port {port}")))?;
    Ok((SocketAddr::new(ip, port), buf.get_i64()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::ErrorKind;

    #[test]
    fn month_window_in_utc() {
        let start = |ms| month_window(ms, &chrono::Utc).unwrap().0;
        // 1970-01-01, 2024-02-29 12:34:56.789 (leap day), 2024-03-01 00:00, 2023-12-31 23:59:59.999
        assert_eq!(start(0), 0);
        assert_eq!(start(1_709_210_096_789), 1_706_745_600_000);
        assert_eq!(start(1_709_251_200_000), 1_709_251_200_000);
        assert_eq!(start(1_704_067_199_999), 1_701_388_800_000);
        assert_eq!(
            month_window(1_709_210_096_789, &chrono::Utc),
            Some((1_706_745_600_000, 1_709_251_200_000))
        );
    }

    /// Java counts from day 1, 00:00 in the local time zone: at 2026-12-01 03:00 UTC it is
    /// already December in UTC+8, whose month began at 2026-11-30 16:00 UTC; in UTC-5 it is
    /// still November.
    #[test]
    fn month_window_follows_the_local_time_zone_as_java() {
        let shanghai = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        let new_york = chrono::FixedOffset::west_opt(5 * 3600).unwrap();
        let now = 1_796_094_000_000; // 2026-12-01T03:00:00Z
        assert_eq!(
            month_window(now, &shanghai),
            Some((1_796_054_400_000, 1_798_732_800_000))
        );
        assert_eq!(month_window(now, &new_york).unwrap().0, 1_793_509_200_000);
        assert_eq!(
            month_window(now, &chrono::Utc).unwrap().0,
            1_796_083_200_000
        );
    }

    fn id_parts(id: &str, ip_hex_len: usize) -> (&str, &str, &str, u32, u16) {
        let (ip, rest) = id.split_at(ip_hex_len);
        let (pid, rest) = rest.split_at(4);
        let (random, rest) = rest.split_at(8);
        let (time, counter) = rest.split_at(8);
        (
            ip,
            pid,
            random,
            u32::from_str_radix(time, 16).unwrap(),
            u16::from_str_radix(counter, 16).unwrap(),
        )
    }

    #[test]
    fn uniq_id_layout_ipv4() {
        let generator = UniqIdGenerator::new(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 254)));
        let before = epoch_ms();
        let id = generator.next_id();
        assert_eq!(id.len(), 32);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()),
            "{id}"
        );
        let (ip, pid, _random, time, _counter) = id_parts(&id, 8);
        assert_eq!(ip, "0A0102FE");
        assert_eq!(pid, format!("{:04X}", std::process::id() as u16));
        let expected = before - month_window(before, &chrono::Local).unwrap().0;
        assert!(
            (time as u64).abs_diff(expected) < 5_000,
            "{time} vs {expected}"
        );
        assert_eq!(
            UniqIdGenerator::new(IpAddr::V4(Ipv4Addr::LOCALHOST))
                .next_id()
                .len(),
            32
        );
    }

    #[test]
    fn uniq_id_layout_ipv6() {
        let generator = UniqIdGenerator::new(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let id = generator.next_id();
        assert_eq!(id.len(), 56);
        assert!(id.starts_with("00000000000000000000000000000001"), "{id}");
    }

    #[test]
    fn generators_differ_in_their_random_part() {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let a = UniqIdGenerator::new(ip).next_id();
        let b = UniqIdGenerator::new(ip).next_id();
        assert_ne!(a[12..20], b[12..20]);
    }

    #[test]
    fn a_million_ids_in_one_millisecond_are_unique() {
        let generator = UniqIdGenerator::new(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let now = 1_709_210_096_789;
        let mut seen = HashSet::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            let id = generator.id_at(now);
            assert!(
                seen.insert(u64::from_str_radix(&id[20..], 16).unwrap()),
                "{id}"
            );
        }
        // The first 65536 ids share the millisecond; later ones borrow the following ones.
        let (.., time, counter) = id_parts(&generator.id_at(now), 8);
        let month_start = month_window(now, &chrono::Local).unwrap().0;
        assert_eq!(time as u64, now - month_start + 1_000_000 / 65_536);
        assert_eq!(counter as usize, 1_000_000 % 65_536);
    }

    #[test]
    fn ids_stay_unique_when_the_clock_steps_back() {
        let generator = UniqIdGenerator::new(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let first = generator.id_at(2_000_000_000_000);
        let second = generator.id_at(1_999_999_999_000);
        assert!(second > first, "{first} {second}");
    }

    #[test]
    fn ids_unique_across_threads() {
        let generator = UniqIdGenerator::new(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let ids: Vec<String> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..50_000).map(|_| generator.next_id()).collect::<Vec<_>>()))
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), 200_000);
    }

    #[test]
    fn offset_msg_id_decodes() {
        let (addr, offset) = decode_offset_msg_id("7F00000100002A9F0000000000000000").unwrap();
        assert_eq!(addr, "127.0.0.1:10911".parse().unwrap());
        assert_eq!(offset, 0);
        let (addr, offset) = decode_offset_msg_id("c0a80a0500002a9f00000001000f4240").unwrap();
        assert_eq!(addr, "192.168.10.5:10911".parse().unwrap());
        assert_eq!(offset, 0x1_000F_4240);
        let v6 = format!("{}00002A9F7FFFFFFFFFFFFFFF", "0".repeat(31) + "1");
        let (addr, offset) = decode_offset_msg_id(&v6).unwrap();
        assert_eq!(addr, "[::1]:10911".parse().unwrap());
        assert_eq!(offset, i64::MAX);
    }

    #[test]
    fn bad_offset_msg_ids_are_protocol_errors() {
        for id in [
            "",
            "7F00000100002A9F000000000000000",
            "7F00000100002A9F00000000000000000",
            "7F00000100002A9F000000000000000G",
            "+F00000100002A9F0000000000000000",
            "7F000001FFFFFFFF0000000000000000",
            "7F0000010001000000000000000000000",
            "ÿF00000100002A9F000000000000000",
        ] {
            let err = decode_offset_msg_id(id).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Protocol, "{id}");
            assert!(err.message().contains("offset message id"), "{err}");
        }
    }
}
