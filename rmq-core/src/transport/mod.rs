//! Connections to name servers and brokers: one connection actor per address, shared by every
//! producer of a client instance. Requests carry absolute deadlines; responses are matched by
//! opaque; a sweep drops expired entries; a disconnect fails every pending request at once.

mod connection;
mod pool;
mod server_requests;
mod tls;

pub use connection::{Connection, HangCheck};
pub use pool::{Transport, TransportConfig};
pub use server_requests::{ServerHandlers, ServerRequestHandler};
pub use tls::{ClientCert, PemInput, PemSource, Tls};

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

/// The IPv4 address this host would use for outbound traffic (its default route), else
/// 127.0.0.1. Connecting a UDP socket only picks a route; nothing is sent. The target is a
/// documentation address (TEST-NET-1), so no real host is ever involved.
pub fn local_ip() -> IpAddr {
    let routed = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|socket| {
            socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9))?;
            socket.local_addr()
        })
        .map(|addr| addr.ip());
    match routed {
        Ok(ip) if !ip.is_loopback() && !ip.is_unspecified() => ip,
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[test]
fn local_ip_is_never_unspecified() {
    assert!(!local_ip().is_unspecified());
}
