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
pub use tls::Tls;

#[cfg(test)]
mod tests;
