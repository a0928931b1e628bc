//! Gives the shared library a soname that changes with every ABI break, so that installed copies
//! of two ABIs live side by side and programs link against their ABI rather than a file name:
//! `librmqproducer.so.<major>`, and while on 0.x, where a minor release may break the ABI,
//! `librmqproducer.so.0.<minor>`.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        let major = env!("CARGO_PKG_VERSION_MAJOR");
        let abi = match major {
            "0" => format!("0.{}", env!("CARGO_PKG_VERSION_MINOR")),
            _ => major.to_string(),
        };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,librmqproducer.so.{abi}");
    }
}
