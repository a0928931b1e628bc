//! The remoting protocol as pure data: frames, headers, routes, message encoding and validation.
//! Nothing in this module does I/O; every function is testable with byte vectors.

pub mod acl;
pub mod batch;
pub mod codes;
pub mod command;
pub mod compression;
pub mod header;
pub mod heartbeat;
pub mod message;
pub mod namespace;
pub mod recall;
pub mod route;
pub mod stored;
pub mod transaction;
pub mod unique_id;
pub mod validate;
