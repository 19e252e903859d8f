//! Finds libspinfer and tells rustc to link it.
//!
//! Search order: (1) the directory in the environment variable SPINFER_LIB_DIR;
//! (2) `pkg-config spinfer` (an installed library); (3) the repository's own CMake
//! build directory (`build/capi` next to bindings/).
//!
//! The directory found is also written into the rpath of this crate's test binaries
//! and passed on to dependents as DEP_SPINFER_LIB_DIR, so `cargo test` runs without
//! LD_LIBRARY_PATH.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const LIB_FILE: &str = "libspinfer.so";

fn from_env() -> Option<PathBuf> {
    let dir = PathBuf::from(env::var_os("SPINFER_LIB_DIR")?);
    if !dir.join(LIB_FILE).exists() {
        println!(
            "cargo:warning=SPINFER_LIB_DIR={} holds no {}; linking may fail",
            dir.display(),
            LIB_FILE
        );
    }
    Some(dir)
}

fn from_pkg_config() -> Option<PathBuf> {
    let out = Command::new("pkg-config")
        .args(["--variable=libdir", "spinfer"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    if dir.is_empty() {
        None
    } else {
        Some(PathBuf::from(dir))
    }
}

fn from_repo_build_dir() -> Option<PathBuf> {
    // CARGO_MANIFEST_DIR = <repo>/bindings/rust/spinfer-sys
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR")?);
    let repo = manifest.ancestors().nth(3)?.to_path_buf();
    ["build/capi", "build"]
        .iter()
        .map(|sub| repo.join(sub))
        .find(|dir| dir.join(LIB_FILE).exists())
}

fn main() {
    println!("cargo:rerun-if-env-changed=SPINFER_LIB_DIR");
    println!("cargo:rerun-if-changed=build.rs");

    let dir = from_env()
        .or_else(from_pkg_config)
        .or_else(from_repo_build_dir);
    match &dir {
        Some(dir) => {
            let dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
            emit_search_dir(&dir);
        }
        None => println!(
            "cargo:warning=libspinfer not found: set SPINFER_LIB_DIR to the directory holding {}",
            LIB_FILE
        ),
    }
    println!("cargo:rustc-link-lib=dylib=spinfer");
}

fn emit_search_dir(dir: &Path) {
    println!("cargo:rustc-link-search=native={}", dir.display());
    // Applies to this crate's own tests (the bindgen layout tests).
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    // Read by the `spinfer` crate's build script (DEP_SPINFER_LIB_DIR).
    println!("cargo:lib_dir={}", dir.display());
}
