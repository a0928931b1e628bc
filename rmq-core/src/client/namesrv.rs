//! The name server list: requests stick to one address while it answers and move round-robin to
//! the next when it does not (Java's `namesrvIndex`).

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::protocol::command::RemotingCommand;
use crate::transport::Transport;

pub struct NameServers {
    addrs: Vec<String>,
    current: AtomicUsize,
}

impl NameServers {
    /// Parses `host:port;host:port` (commas and spaces are accepted as separators too).
    pub fn parse(list: &str) -> Result<NameServers> {
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
        let start = std::process::id() as usize % addrs.len();
        Ok(NameServers {
            addrs,
            current: AtomicUsize::new(start),
        })
    }

    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    /// Sends `cmd` to the current name server, failing over to the others on connection
    /// errors and timeouts; an answer of any code is returned as is.
    pub async fn invoke(
        &self,
        transport: &Transport,
        cmd: RemotingCommand,
        deadline: Instant,
    ) -> Result<RemotingCommand> {
        let start = self.current.load(Ordering::Relaxed);
        let mut last_error = None;
        for step in 0..self.addrs.len() {
            let index = (start + step) % self.addrs.len();
            let addr = &self.addrs[index];
            match transport.invoke(addr, cmd.clone(), deadline).await {
                Ok(response) => {
                    self.current.store(index, Ordering::Relaxed);
                    return Ok(response);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Connect | ErrorKind::Network | ErrorKind::Timeout
                    ) =>
                {
                    tracing::debug!(addr, error = %e, "name server failed; trying the next");
                    last_error = Some(e);
                    if Instant::now() >= deadline {
                        break;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error
            .unwrap_or_else(|| Error::new(ErrorKind::NoNameServer, "no name server answered"))
            .context("no name server reachable"))
    }
}

fn is_host_port(addr: &str) -> bool {
    addr.rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_java_style_lists() {
        let ns = NameServers::parse("127.0.0.1:9876; 10.0.0.2:9876").unwrap();
        assert_eq!(ns.addrs(), ["127.0.0.1:9876", "10.0.0.2:9876"]);
    }

    #[test]
    fn rejects_empty_and_malformed_lists() {
        assert_eq!(
            NameServers::parse(" ; ").err().unwrap().kind(),
            ErrorKind::NoNameServer
        );
        for bad in ["localhost", "host:abc", ":9876", "h:0"] {
            let e = NameServers::parse(bad).err().unwrap();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
    }
}
