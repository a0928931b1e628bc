//! The C ABI of rmqproducer: `librmqproducer.so` / `librmqproducer.a` and the cbindgen-generated
//! `include/rmqproducer.h`.
//!
//! One module per C "class" (config, message, producer, send result, error, queue, batch, send
//! hook) or producer feature (request-reply, transactions), plus the plumbing:
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
mod message;
mod producer;
mod queue;
mod request;
mod send_result;
mod transaction;

pub use batch::*;
pub use config::*;
pub use deliveries::rmq_delivery_cb;
pub use error::*;
pub use hook::*;
pub use message::*;
pub use producer::*;
pub use queue::*;
pub use request::*;
pub use send_result::*;
pub use transaction::*;

/// The library's version, e.g. `"0.1.0"` (a static string; never free it).
#[unsafe(no_mangle)]
pub extern "C" fn rmq_version() -> *const std::ffi::c_char {
    ffi_panic_boundary! {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    }
}
