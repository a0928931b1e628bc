//! The client instance shared per client id: name servers, routes, heartbeats.
