//! The panic boundary. Since Rust 1.81 a panic unwinding out of an `extern "C"` function aborts
//! the process, so every entry point runs its body inside [`ffi_panic_boundary!`]: a caught panic
//! becomes the thread's last error (`RMQ_RESULT_INTERNAL`) and the function returns the
//! [`PanicDefault`] of its return type. Signatures stay literal so that cbindgen sees them.

use std::any::Any;

use rmq_core::{Error, runtime};

use crate::error::{last_error, rmq_result};
use crate::send_result::rmq_send_status;

/// What an entry point returns when its body panicked.
pub(crate) trait PanicDefault {
    fn on_panic() -> Self;
}

impl PanicDefault for rmq_result {
    fn on_panic() -> Self {
        rmq_result::Internal
    }
}

impl PanicDefault for rmq_send_status {
    fn on_panic() -> Self {
        rmq_send_status::Unknown
    }
}

impl PanicDefault for () {
    fn on_panic() -> Self {}
}

impl PanicDefault for usize {
    fn on_panic() -> Self {
        0
    }
}

/// The "absent" value of the integer getters (queue id, response code...).
impl PanicDefault for i32 {
    fn on_panic() -> Self {
        -1
    }
}

impl PanicDefault for i64 {
    fn on_panic() -> Self {
        -1
    }
}

impl<T> PanicDefault for *mut T {
    fn on_panic() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> PanicDefault for *const T {
    fn on_panic() -> Self {
        std::ptr::null()
    }
}

impl PanicDefault for bool {
    fn on_panic() -> Self {
        false
    }
}

/// Records a caught panic as the thread's last error and picks the function's fallback value.
pub(crate) fn caught<T: PanicDefault>(payload: Box<dyn Any + Send>) -> T {
    last_error::set(&Error::internal(format!(
        "rmqproducer panicked ({}); this is a bug, please report it",
        runtime::panic_message(payload)
    )));
    T::on_panic()
}

/// Runs the body of an `extern "C"` function, turning a panic into its [`PanicDefault`].
macro_rules! ffi_panic_boundary {
    ($($body:tt)*) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(value) => value,
            Err(payload) => $crate::panic::caught(payload),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panicking_entry_point() -> rmq_result {
        ffi_panic_boundary! {
            if true {
                panic!("boom");
            }
            rmq_result::Ok
        }
    }

    #[test]
    fn a_panic_becomes_internal_with_its_message_as_last_error() {
        assert_eq!(panicking_entry_point(), rmq_result::Internal);
        let last = last_error::get().expect("a last error");
        assert_eq!(last.kind(), rmq_core::ErrorKind::Internal);
        assert!(last.message().contains("boom"), "{}", last.message());
    }
}
