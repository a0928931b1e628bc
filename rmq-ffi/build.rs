//! Gives the shared library a soname (`librmqproducer.so.<major>`) so that installed copies can be
//! versioned and programs link against the ABI rather than a file name.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        let major = env!("CARGO_PKG_VERSION_MAJOR");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,librmqproducer.so.{major}");
    }
}
