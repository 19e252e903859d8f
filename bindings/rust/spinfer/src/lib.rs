//! Safe Rust API of libspinfer: matrix products `Y = X * W^T (+ bias)` with
//! unstructured-sparse weights stored in the TCA-BME bitmap format of the SpInfer paper
//! (Fan et al., EuroSys '25), on NVIDIA GPUs or on the host.
//!
//! - [`Matrix`] owns an encoded matrix, [`Context`] a backend; both free their C
//!   handle on drop.
//! - Every fallible call returns [`Result`], whose [`Error`] carries the library's
//!   status and message.
//! - Host data are slices of `f32`, [`F16`] or [`Bf16`]; the dtype follows from the
//!   element type. Device data are raw pointers in the `unsafe` calls.
//!
//! ```
//! use spinfer::{Context, DType, Matrix};
//! let (m, k, n) = (4, 3, 2);
//! let w = [1.0f32, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0, 0.5, 0.0, 0.0];
//! let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
//! let matrix = Matrix::encode(&w, m, k, DType::F16)?;
//! let mut y = vec![0.0f32; n * m];
//! Context::host()?.spmm(&matrix, &x, n, None, &mut y)?;
//! assert_eq!(y, [1.0, 4.0, 9.0, 0.5, 4.0, 10.0, 18.0, 2.0]);
//! # Ok::<(), spinfer::Error>(())
//! ```
//!
//! The raw bindings are re-exported as [`sys`].
mod context;
mod dtype;
mod error;
mod file;
mod matrix;
mod shape;

pub use context::{Backend, Context, ContextConfig, SpmmOptions};
pub use dtype::{Bf16, DType, Element, F16};
pub use error::{check, Error, Result, Status};
pub use file::{load, matrix_count, matrix_names, save};
pub use matrix::{Location, Matrix, MatrixInfo};
pub use spinfer_sys as sys;

/// Version of the TCA-BME layout this crate was generated against.
pub const FORMAT_VERSION: u32 = sys::SPINFER_FORMAT_VERSION;

/// Library version string "MAJOR.MINOR.PATCH".
pub fn version() -> String {
    // SAFETY: static NUL-terminated storage, never NULL.
    unsafe { error::c_str_to_string(sys::spinfer_version()) }
}

/// Library version as MAJOR * 10000 + MINOR * 100 + PATCH.
pub fn version_number() -> u32 {
    // SAFETY: no arguments.
    unsafe { sys::spinfer_version_number() }
}

/// True when the library was built with CUDA kernels.
pub fn has_cuda() -> bool {
    // SAFETY: no arguments.
    unsafe { sys::spinfer_has_cuda() != 0 }
}

/// The README's examples run as doc tests, so the README cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    /// The handles are shareable across threads as spinfer.h documents; this stops
    /// compiling if a field ever makes them lose Send or Sync.
    #[test]
    fn handles_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<crate::Context>();
        send_sync::<crate::Matrix>();
        send_sync::<crate::Error>();
    }
}
