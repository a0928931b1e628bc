//! The name server list: requests stick to one address while it answers and move round-robin to
//! the next when it does not (Java's `namesrvIndex`). Each name server tried gets a share of the
//! remaining budget, so a silent one cannot eat all of it, and one that failed is tried last
//! for a while.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::protocol::command::RemotingCommand;
use crate::transport::Transport;

/// A name server that failed is tried after the others for this long.
const SKIP_FAILED_FOR: Duration = Duration::from_secs(30);
/// The least time a name server gets when the budget is split (a healthy one answers in
/// milliseconds; below this, a busy network would fail every one of them).
const MIN_SHARE: Duration = Duration::from_millis(1000);

pub struct NameServers {
    addrs: Vec<String>,
    current: AtomicUsize,
    /// When each name server last failed to answer; `None` once it answered.
    failed_at: Mutex<Vec<Option<Instant>>>,
}

impl NameServers {
    /// Parses `host:port;host:port` (commas and spaces are accepted as separators too). The first
    /// name server asked is chosen from `client_id`, so that the clients of many processes and
    /// hosts spread over the list, and one instance always starts at the same one.
    pub fn parse(list: &str, client_id: &str) -> Result<NameServers> {
        let addrs: Vec<String> = list
            .split([';', ',', ' '])
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        if addrs.is_empty() {
            return Err(Error::new(
                ErrorKind::NoNameServer,
                "the name server list is empty",
            ));
        }
        if let Some(bad) = addrs.iter().find(|a| !is_host_port(a)) {
            return Err(Error::invalid_argument(format!(
                "name server address '{bad}' is not host:port"
            )));
        }
        let start = (fnv1a(client_id) % addrs.len() as u64) as usize;
        Ok(NameServers {
            failed_at: Mutex::new(vec![None; addrs.len()]),
            addrs,
            current: AtomicUsize::new(start),
        })
    }

    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    /// The name server the next request goes to first (while none has failed).
    pub fn preferred(&self) -> &str {
        &self.addrs[self.current.load(Ordering::Relaxed)]
    }

    /// Sends `cmd` to the current name server, failing over to the others on connection
    /// errors and timeouts; an answer of any code is returned as is.
    pub async fn invoke(
        &self,
        transport: &Transport,
        cmd: RemotingCommand,
        deadline: Instant,
    ) -> Result<RemotingCommand> {
        let order = self.order(Instant::now());
        let mut last_error = None;
        for (tried, &index) in order.iter().enumerate() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let remaining = deadline - now;
            let share = remaining / (order.len() - tried) as u32;
            let attempt_deadline = now + share.max(MIN_SHARE.min(remaining));
            let addr = &self.addrs[index];
            match transport
                .invoke_closing_on_timeout(addr, cmd.clone(), attempt_deadline)
                .await
            {
                Ok(response) => {
                    self.failed_at.lock()[index] = None;
                    self.current.store(index, Ordering::Relaxed);
                    return Ok(response);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Connect | ErrorKind::Network | ErrorKind::Timeout
                    ) =>
                {
                    tracing::warn!(addr, error = %e, "name server failed; trying the next");
                    self.failed_at.lock()[index] = Some(Instant::now());
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error
            .unwrap_or_else(|| Error::new(ErrorKind::NoNameServer, "no name server answered"))
            .context("no name server reachable"))
    }

    /// Every name server once: round-robin from the current one, those that failed within
    /// [`SKIP_FAILED_FOR`] last (the longest failed first).
    fn order(&self, now: Instant) -> Vec<usize> {
        let start = self.current.load(Ordering::Relaxed);
        let failed_at = self.failed_at.lock();
        let recently_failed = |index: usize| {
            failed_at[index].filter(|at| now.saturating_duration_since(*at) < SKIP_FAILED_FOR)
        };
        let rotation = (0..self.addrs.len()).map(|step| (start + step) % self.addrs.len());
        let mut order: Vec<usize> = rotation
            .clone()
            .filter(|&i| recently_failed(i).is_none())
            .collect();
        let mut skipped: Vec<usize> = rotation.filter(|&i| recently_failed(i).is_some()).collect();
        skipped.sort_by_key(|&i| recently_failed(i));
        order.extend(skipped);
        order
    }
}

/// FNV-1a: a hash that is the same in every process and build, unlike std's.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn is_host_port(addr: &str) -> bool {
    addr.rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn parses_java_style_lists() {
        let ns = NameServers::parse("127.0.0.1:9876; 10.0.0.2:9876", "id").unwrap();
        assert_eq!(ns.addrs(), ["127.0.0.1:9876", "10.0.0.2:9876"]);
    }

    #[test]
    fn rejects_empty_and_malformed_lists() {
        assert_eq!(
            NameServers::parse(" ; ", "id").err().unwrap().kind(),
            ErrorKind::NoNameServer
        );
        for bad in ["localhost", "host:abc", ":9876", "h:0"] {
            let e = NameServers::parse(bad, "id").err().unwrap();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn one_instance_always_starts_at_the_same_name_server_and_instances_spread() {
        let list = "a:1;b:2;c:3";
        let start = |id: &str| {
            NameServers::parse(list, id)
                .unwrap()
                .preferred()
                .to_string()
        };
        assert_eq!(start("10.0.0.1@x"), start("10.0.0.1@x"));
        let starts: HashSet<String> = (0..30).map(|i| start(&format!("10.0.0.1@{i}"))).collect();
        assert_eq!(starts.len(), 3, "{starts:?}");
    }

    #[test]
    fn name_servers_that_failed_lately_are_tried_last() {
        let ns = NameServers::parse("a:1;b:2;c:3", "id").unwrap();
        ns.current.store(0, Ordering::Relaxed);
        let now = Instant::now();
        assert_eq!(ns.order(now), [0, 1, 2]);
        ns.failed_at.lock()[0] = Some(now);
        ns.failed_at.lock()[2] = Some(now - Duration::from_secs(5));
        assert_eq!(ns.order(now), [1, 2, 0]);
        assert_eq!(ns.order(now + SKIP_FAILED_FOR), [0, 1, 2]);
    }
}
