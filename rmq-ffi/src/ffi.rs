//! Checks at the boundary: raw pointers to references, C strings to `&str`, byte ranges to slices,
//! and strings back to C. A NULL pointer or bad UTF-8 is an `InvalidArgument` error naming the
//! parameter; nothing here dereferences a pointer it has not checked for NULL.

use std::ffi::{CStr, CString, c_char};

use rmq_core::Error;

fn null(what: &str) -> Error {
    Error::invalid_argument(format!("{what} is NULL"))
}

/// `&*ptr`, or `InvalidArgument` when `ptr` is NULL.
pub(crate) unsafe fn try_ref<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, Error> {
    unsafe { ptr.as_ref() }.ok_or_else(|| null(what))
}

/// `&mut *ptr`, or `InvalidArgument` when `ptr` is NULL.
pub(crate) unsafe fn try_mut<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T, Error> {
    unsafe { ptr.as_mut() }.ok_or_else(|| null(what))
}

/// A NUL-terminated UTF-8 string, or `InvalidArgument` when it is NULL or not UTF-8.
pub(crate) unsafe fn try_str<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(null(what));
    }
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|e| Error::invalid_argument(format!("{what} is not valid UTF-8 ({e})")))
}

/// `len` bytes at `ptr`; `ptr` may be NULL only when `len` is 0.
pub(crate) unsafe fn try_bytes<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a [u8], Error> {
    match (ptr.is_null(), len) {
        (_, 0) => Ok(&[]),
        (true, _) => Err(null(what)),
        (false, _) => Ok(unsafe { std::slice::from_raw_parts(ptr, len) }),
    }
}

/// `InvalidArgument` when the out-parameter `out` is NULL.
pub(crate) fn check_out<T>(out: *mut T) -> Result<(), Error> {
    if out.is_null() {
        return Err(null("out"));
    }
    Ok(())
}

/// Writes an out-parameter (the caller has checked `out` with [`check_out`]).
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T) {
    unsafe { out.write(value) }
}

/// A C copy of `s`. Strings from the network could hold NUL bytes, which C cannot see past: they
/// are dropped rather than cutting the string short.
pub(crate) fn to_c_string(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        bytes.retain(|&b| b != 0);
        CString::new(bytes).expect("NUL bytes were removed")
    })
}

/// Copies `src` into the C buffer `buf` of `len` bytes, NUL-terminated and cut at a UTF-8 character
/// boundary when too long; returns `src.len()` (as `snprintf` does). Does nothing when `buf` is
/// NULL or `len` is 0.
pub(crate) unsafe fn copy_to_buffer(src: &[u8], buf: *mut c_char, len: usize) -> usize {
    if !buf.is_null() && len > 0 {
        let mut n = src.len().min(len - 1);
        // Back up to the start of a character so the copy stays valid UTF-8.
        while n < src.len() && n > 0 && (src[n] & 0b1100_0000) == 0b1000_0000 {
            n -= 1;
        }
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), buf.cast::<u8>(), n);
            buf.add(n).write(0);
        }
    }
    src.len()
}

/// Writes a failure's message into a caller's `errbuf` (see [`copy_to_buffer`]).
pub(crate) unsafe fn write_errbuf(error: &Error, errbuf: *mut c_char, errlen: usize) {
    unsafe { copy_to_buffer(error.message().as_bytes(), errbuf, errlen) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copied(src: &str, len: usize) -> (String, usize) {
        let mut buf = vec![b'x' as c_char; len.max(1)];
        let n = unsafe { copy_to_buffer(src.as_bytes(), buf.as_mut_ptr(), len) };
        let s = if len == 0 {
            String::new()
        } else {
            unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_str()
                .expect("valid UTF-8")
                .to_owned()
        };
        (s, n)
    }

    #[test]
    fn copies_are_truncated_safely() {
        assert_eq!(copied("hello", 16), ("hello".into(), 5));
        assert_eq!(copied("hello", 3), ("he".into(), 5));
        assert_eq!(copied("hello", 1), ("".into(), 5));
        assert_eq!(copied("hello", 0), ("".into(), 5));
        // "é" is two bytes: a cut in its middle backs up before it.
        assert_eq!(copied("aé", 3), ("a".into(), 3));
    }

    #[test]
    fn c_strings_drop_interior_nuls() {
        assert_eq!(to_c_string("a\0b").as_bytes(), b"ab");
    }
}
