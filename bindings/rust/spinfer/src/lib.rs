//! Safe Rust API of libspinfer: matrix products `Y = X * W^T (+ bias)` with
//! unstructured-sparse weights stored in the TCA-BME bitmap format of the SpInfer paper
//! (Fan et al., EuroSys '25), on NVIDIA GPUs or on the host.
//!
//! - [`Matrix`] owns an encoded matrix, [`Context`] a backend; both free their C
//!   handle on drop.
//! - Transformer layers whose linear maps are sparse matrices ([`Linear`], [`Mlp`],
//!   [`Attention`], [`DecoderLayer`]), a paged [`KvCache`] and a [`Model`] runner for
//!   OPT/LLaMA decoders (spinfer.h §7). Each borrows the context (and the matrices) it
//!   uses, so the compiler keeps those alive for as long as the layer.
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
mod attention;
mod context;
mod decoder;
mod dtype;
mod error;
mod ffi;
mod file;
mod kv_cache;
mod layer_common;
mod linear;
mod matrix;
mod mlp;
mod model;
mod shape;

pub use context::{Backend, Context, ContextConfig, SpmmOptions};
pub use dtype::{Bf16, DType, Element, F16};
pub use error::{check, Error, Result, Status};
pub use file::{load, matrix_count, matrix_names, save};
pub use matrix::{Location, Matrix, MatrixInfo};

pub use attention::{Attention, AttentionConfig, AttentionWeights};
pub use decoder::{DecoderConfig, DecoderLayer, DecoderWeights};
pub use kv_cache::{KvCache, KvCacheConfig};
pub use layer_common::{Activation, Arch, HostArray, MlpKind};
pub use linear::{Linear, LinearConfig};
pub use mlp::{Mlp, MlpConfig, MlpWeights};
pub use model::{Model, ModelConfig, ModelInfo};
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

    /// spinfer.h §7: layers, caches and models are used by one thread at a time, from
    /// any thread: Send (and not Sync, checked by a compile_fail doc test on KvCache).
    #[test]
    fn layer_handles_are_send() {
        fn send<T: Send>() {}
        send::<crate::Linear<'static>>();
        send::<crate::Mlp<'static>>();
        send::<crate::Attention<'static>>();
        send::<crate::DecoderLayer<'static>>();
        send::<crate::KvCache<'static>>();
        send::<crate::Model<'static>>();
    }

    /// The Rust defaults of the section 7 configs are the library's (its *_init).
    #[test]
    fn config_defaults_match_the_library() {
        use crate::sys;
        use crate::*;
        unsafe {
            let mut l: sys::spinfer_linear_config_t = std::mem::zeroed();
            sys::spinfer_linear_config_init(&mut l);
            assert_eq!(LinearConfig::default().activation.to_raw(), l.activation);

            let mut m: sys::spinfer_mlp_config_t = std::mem::zeroed();
            sys::spinfer_mlp_config_init(&mut m);
            let d = MlpConfig::default();
            assert_eq!(d.kind.to_raw(), m.kind);
            assert_eq!(d.activation.to_raw(), m.activation);
            assert_eq!(d.max_tokens as i64, m.max_tokens);
            assert_eq!(d.fuse_gate_up as i32, m.fuse_gate_up);

            let mut k: sys::spinfer_kv_cache_config_t = std::mem::zeroed();
            sys::spinfer_kv_cache_config_init(&mut k);
            let d = KvCacheConfig::default();
            assert_eq!(
                (
                    d.num_layers as i32,
                    d.num_kv_heads as i32,
                    d.head_dim as i32
                ),
                (k.num_layers, k.num_kv_heads, k.head_dim)
            );
            assert_eq!(d.block_size as i32, k.block_size);
            assert_eq!(d.num_blocks as i64, k.num_blocks);
            assert_eq!(d.max_sequences as i32, k.max_sequences);
            assert_eq!(d.max_sequence_length as i64, k.max_sequence_length);
            assert_eq!(d.dtype.to_raw(), k.dtype);

            let mut a: sys::spinfer_attention_config_t = std::mem::zeroed();
            sys::spinfer_attention_config_init(&mut a);
            let d = AttentionConfig::default();
            assert_eq!(
                (d.num_heads as i32, d.num_kv_heads as i32, d.head_dim as i32),
                (a.num_heads, a.num_kv_heads, a.head_dim)
            );
            assert_eq!(d.use_rope as i32, a.use_rope);
            assert_eq!(d.rope_theta, a.rope_theta);
            assert_eq!(d.scale, a.scale);
            assert_eq!(d.max_tokens as i64, a.max_tokens);
            assert_eq!(d.fuse_qkv as i32, a.fuse_qkv);

            let mut c: sys::spinfer_decoder_config_t = std::mem::zeroed();
            sys::spinfer_decoder_config_init(&mut c);
            let d = DecoderConfig::default();
            assert_eq!(d.arch.to_raw(), c.arch);
            assert_eq!(
                (d.hidden_size as i64, d.intermediate_size as i64),
                (c.hidden_size, c.intermediate_size)
            );
            assert_eq!(
                (d.num_heads as i32, d.num_kv_heads as i32, d.head_dim as i32),
                (c.num_heads, c.num_kv_heads, c.head_dim)
            );
            assert_eq!((d.norm_eps, d.rope_theta), (c.norm_eps, c.rope_theta));
            assert_eq!(d.activation.to_raw(), c.activation);
            assert_eq!(d.max_tokens as i64, c.max_tokens);
            assert_eq!(d.fuse_projections as i32, c.fuse_projections);

            let mut g: sys::spinfer_model_config_t = std::mem::zeroed();
            sys::spinfer_model_config_init(&mut g);
            let d = ModelConfig::default();
            assert_eq!(d.max_sequences as i32, g.max_sequences);
            assert_eq!(d.max_batch_tokens as i64, g.max_batch_tokens);
            assert_eq!(d.max_sequence_length as i64, g.max_sequence_length);
            assert_eq!(d.kv_block_size as i32, g.kv_block_size);
            assert_eq!(d.kv_num_blocks as i64, g.kv_num_blocks);
            assert_eq!(d.use_cuda_graphs as i32, g.use_cuda_graphs);
        }
    }
}
