//! The C ABI of rmqproducer: `librmqproducer.so` / `librmqproducer.a` and the cbindgen-generated
//! `include/rmqproducer.h`.
//!
//! One module per C "class" (config, message, producer, send result, error, queue, batch, send
//! hook) or producer feature (request-reply, transactions, recall), plus the plumbing:
//! `panic` (the panic boundary every entry point's body runs in), `ffi` (pointer and string
//! checks), `deliveries` (how async outcomes reach C callbacks, in thread or poll mode).
//!
//! The conventions every function follows are written once, at the top of the header (see the
//! `header` text in `cbindgen.toml`); in particular every entry point has the same safety contract,
//! which is why the individual `unsafe extern "C"` functions carry no `# Safety` section.
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

#[macro_use]
mod panic;

mod batch;
mod config;
mod deliveries;
mod error;
mod ffi;
mod hook;
mod log;
mod message;
mod producer;
mod queue;
mod recall;
mod request;
mod send_result;
mod stats;
mod transaction;

pub use batch::*;
pub use config::*;
pub use deliveries::rmq_delivery_cb;
pub use error::*;
pub use hook::*;
pub use log::*;
pub use message::*;
pub use producer::*;
pub use queue::*;
pub use recall::*;
pub use request::*;
pub use send_result::*;
pub use stats::*;
pub use transaction::*;

/// The version of this header (`RMQ_VERSION_MINOR` changes with every ABI break while
/// `RMQ_VERSION_MAJOR` is 0); `rmq_version()` gives the library's, at run time.
pub const RMQ_VERSION_MAJOR: u32 = 0;
/// See `RMQ_VERSION_MAJOR`.
pub const RMQ_VERSION_MINOR: u32 = 1;
/// See `RMQ_VERSION_MAJOR`.
pub const RMQ_VERSION_PATCH: u32 = 0;

/// The library's version, e.g. `"0.1.0"` (a static string; never free it).
#[unsafe(no_mangle)]
pub extern "C" fn rmq_version() -> *const std::ffi::c_char {
    ffi_panic_boundary! {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_header_version_is_the_crate_version() {
        let header = format!(
            "{}.{}.{}",
            super::RMQ_VERSION_MAJOR,
            super::RMQ_VERSION_MINOR,
            super::RMQ_VERSION_PATCH
        );
        assert_eq!(
            header,
            env!("CARGO_PKG_VERSION"),
            "set RMQ_VERSION_* to the workspace version, then run make ffi-header"
        );
    }
}
