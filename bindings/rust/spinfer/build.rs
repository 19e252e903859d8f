//! Puts the directory where spinfer-sys found libspinfer into the rpath of this crate's
//! tests and examples, so `cargo test` and `cargo run --example` work without
//! LD_LIBRARY_PATH. (A link argument of a dependency's build script does not reach
//! the dependents' binaries, hence this second script.)
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_SPINFER_LIB_DIR");
    if let Ok(dir) = std::env::var("DEP_SPINFER_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
    }
}
