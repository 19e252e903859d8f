//! `DecoderLayer`: norm -> attention -> residual -> norm -> MLP -> residual, OPT or
//! LLaMA style, over a [`KvCache`] (`spinfer_decoder_layer_t`, spinfer.h §7.5).
use std::os::raw::c_void;
use std::ptr;

use spinfer_sys as sys;

use crate::context::Context;
use crate::dtype::{DType, Element};
use crate::error::{check, Error, Result, Status};
use crate::ffi::{library_defaults, Handle};
use crate::kv_cache::KvCache;
use crate::layer_common::{
    check_rows, Activation, Arch, DenseArgs, ForwardIo, HostArray, LayerContext,
};
use crate::matrix::Matrix;
use crate::shape::{to_c_int, to_i64};

/// Sizes and options of a [`DecoderLayer`]. `Default` gives the library's defaults;
/// `hidden_size`, `intermediate_size` and `num_heads` are 0 there and must be set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecoderConfig {
    /// Family (default Llama).
    pub arch: Arch,
    /// Hidden size (must be set).
    pub hidden_size: usize,
    /// MLP inner size (must be set).
    pub intermediate_size: usize,
    /// Query heads (must be set).
    pub num_heads: usize,
    /// Key/value heads; 0 = num_heads.
    pub num_kv_heads: usize,
    /// Elements per head; 0 = hidden / num_heads.
    pub head_dim: usize,
    /// Norm epsilon (default 1e-5).
    pub norm_eps: f64,
    /// RoPE base, LLaMA only (default 10000).
    pub rope_theta: f64,
    /// MLP activation; None (default) = the family's: ReLU (OPT), SiLU (LLaMA).
    pub activation: Activation,
    /// Largest n of a forward (default 512).
    pub max_tokens: usize,
    /// Fused QKV and gate/up SpMMs where they fit (default true).
    pub fuse_projections: bool,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            arch: Arch::Llama,
            hidden_size: 0,
            intermediate_size: 0,
            num_heads: 0,
            num_kv_heads: 0,
            head_dim: 0,
            norm_eps: 1e-5,
            rope_theta: 10000.0,
            activation: Activation::None,
            max_tokens: 512,
            fuse_projections: true,
        }
    }
}

impl DecoderConfig {
    fn to_raw(self) -> Result<sys::spinfer_decoder_config_t> {
        // SAFETY: plain data; the library sets struct_size and the defaults.
        let mut raw = unsafe { library_defaults(sys::spinfer_decoder_config_init) }?;
        raw.arch = self.arch.to_raw();
        raw.hidden_size = to_i64(self.hidden_size, "hidden_size")?;
        raw.intermediate_size = to_i64(self.intermediate_size, "intermediate_size")?;
        raw.num_heads = to_c_int(self.num_heads, "num_heads")?;
        raw.num_kv_heads = to_c_int(self.num_kv_heads, "num_kv_heads")?;
        raw.head_dim = to_c_int(self.head_dim, "head_dim")?;
        raw.norm_eps = self.norm_eps;
        raw.rope_theta = self.rope_theta;
        raw.activation = self.activation.to_raw();
        raw.max_tokens = to_i64(self.max_tokens, "max_tokens")?;
        raw.fuse_projections = self.fuse_projections as i32;
        Ok(raw)
    }

    /// Elements of the Q and of the K/V projections (heads * head_dim), as the library
    /// derives them; None when the config does not determine them (the library then
    /// refuses the config).
    fn projection_rows(&self) -> Option<(usize, usize)> {
        if self.num_heads == 0 {
            return None;
        }
        let head_dim = if self.head_dim > 0 {
            self.head_dim
        } else if self.hidden_size % self.num_heads == 0 {
            self.hidden_size / self.num_heads
        } else {
            return None;
        };
        let kv_heads = if self.num_kv_heads > 0 {
            self.num_kv_heads
        } else {
            self.num_heads
        };
        Some((
            self.num_heads.checked_mul(head_dim)?,
            kv_heads.checked_mul(head_dim)?,
        ))
    }
}

/// Weights of one decoder layer. Matrices are borrowed for the layer's life; dense
/// arrays (one dtype for all) only for [`DecoderLayer::new`] (copied).
///
/// OPT: `up_proj` = fc1, `down_proj` = fc2, no `gate_proj`, every bias and both norm
/// biases (LayerNorm). LLaMA: gate/up/down, no MLP biases (attention biases allowed),
/// no norm biases (RMSNorm). `attn_norm_*` is applied before attention (OPT
/// self_attn_layer_norm, LLaMA input_layernorm), `mlp_norm_*` before the MLP (OPT
/// final_layer_norm, LLaMA post_attention_layernorm). Missing required entries are
/// reported by the library.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecoderWeights<'a, 'd> {
    /// `[num_heads * head_dim, hidden_size]` (required).
    pub q_proj: Option<&'a Matrix>,
    /// `[num_kv_heads * head_dim, hidden_size]` (required).
    pub k_proj: Option<&'a Matrix>,
    /// `[num_kv_heads * head_dim, hidden_size]` (required).
    pub v_proj: Option<&'a Matrix>,
    /// `[hidden_size, num_heads * head_dim]` (required).
    pub o_proj: Option<&'a Matrix>,
    /// `[intermediate_size, hidden_size]` (LLaMA only).
    pub gate_proj: Option<&'a Matrix>,
    /// `[intermediate_size, hidden_size]` (OPT fc1; required).
    pub up_proj: Option<&'a Matrix>,
    /// `[hidden_size, intermediate_size]` (OPT fc2; required).
    pub down_proj: Option<&'a Matrix>,
    /// `[num_heads * head_dim]`.
    pub q_bias: Option<HostArray<'d>>,
    /// `[num_kv_heads * head_dim]`.
    pub k_bias: Option<HostArray<'d>>,
    /// `[num_kv_heads * head_dim]`.
    pub v_bias: Option<HostArray<'d>>,
    /// `[hidden_size]`.
    pub o_bias: Option<HostArray<'d>>,
    /// `[intermediate_size]`.
    pub up_bias: Option<HostArray<'d>>,
    /// `[hidden_size]`.
    pub down_bias: Option<HostArray<'d>>,
    /// `[hidden_size]` (required).
    pub attn_norm_weight: Option<HostArray<'d>>,
    /// `[hidden_size]` (OPT only).
    pub attn_norm_bias: Option<HostArray<'d>>,
    /// `[hidden_size]` (required).
    pub mlp_norm_weight: Option<HostArray<'d>>,
    /// `[hidden_size]` (OPT only).
    pub mlp_norm_bias: Option<HostArray<'d>>,
}

/// A full decoder layer on a context. Owned by Rust, destroyed on drop; borrows its
/// context and matrices for `'a` (see [`crate::Linear`]). One forward at a time;
/// `Send`, not `Sync`.
#[derive(Debug)]
pub struct DecoderLayer<'a> {
    raw: Handle<'a, sys::spinfer_decoder_layer_t>,
    layer: LayerContext<'a>,
    hidden: usize,
}

// SAFETY: spinfer.h §7: one thread at a time, any thread; uses take `&mut self`.
unsafe impl Send for DecoderLayer<'_> {}

fn matrix_ptr(m: Option<&Matrix>) -> *const sys::spinfer_matrix_t {
    m.map_or(ptr::null(), |m| m.as_ptr())
}

impl<'a> DecoderLayer<'a> {
    /// A decoder layer; `config` gives the sizes, which every dense array is checked
    /// against here (the C API reads them by those sizes).
    pub fn new(
        ctx: &'a Context,
        weights: &DecoderWeights<'a, '_>,
        config: &DecoderConfig,
    ) -> Result<DecoderLayer<'a>> {
        let layer = LayerContext::new(ctx)?;
        let (h, inter) = (config.hidden_size, config.intermediate_size);
        let w = weights;
        let mut dense = DenseArgs::new();
        let (q_bias, k_bias, v_bias) =
            match config.projection_rows() {
                Some((qd, kvd)) => (
                    dense.take(w.q_bias, qd, "q bias")?,
                    dense.take(w.k_bias, kvd, "k bias")?,
                    dense.take(w.v_bias, kvd, "v bias")?,
                ),
                None if w.q_bias.is_none() && w.k_bias.is_none() && w.v_bias.is_none() => {
                    (ptr::null(), ptr::null(), ptr::null())
                }
                None => return Err(Error::rust(
                    Status::InvalidArgument,
                    "num_heads, head_dim and hidden_size do not fix the length of the q/k/v biases",
                )),
            };
        // SAFETY: plain data (NULL pointers); the library sets struct_size.
        let mut raw = unsafe { library_defaults(sys::spinfer_decoder_weights_init) }?;
        raw.q_proj = matrix_ptr(w.q_proj);
        raw.k_proj = matrix_ptr(w.k_proj);
        raw.v_proj = matrix_ptr(w.v_proj);
        raw.o_proj = matrix_ptr(w.o_proj);
        raw.gate_proj = matrix_ptr(w.gate_proj);
        raw.up_proj = matrix_ptr(w.up_proj);
        raw.down_proj = matrix_ptr(w.down_proj);
        raw.q_bias = q_bias;
        raw.k_bias = k_bias;
        raw.v_bias = v_bias;
        raw.o_bias = dense.take(w.o_bias, h, "o bias")?;
        raw.up_bias = dense.take(w.up_bias, inter, "up bias")?;
        raw.down_bias = dense.take(w.down_bias, h, "down bias")?;
        raw.attn_norm_weight = dense.take(w.attn_norm_weight, h, "attention norm weight")?;
        raw.attn_norm_bias = dense.take(w.attn_norm_bias, h, "attention norm bias")?;
        raw.mlp_norm_weight = dense.take(w.mlp_norm_weight, h, "MLP norm weight")?;
        raw.mlp_norm_bias = dense.take(w.mlp_norm_bias, h, "MLP norm bias")?;
        raw.dense_dtype = dense.dtype().to_raw();
        let raw_config = config.to_raw()?;
        let mut out = ptr::null_mut();
        // SAFETY: live handles (or NULL, which the library reports); every dense array
        // spans the length the library derives from `config`.
        check(unsafe {
            sys::spinfer_decoder_layer_create(
                ctx.as_ptr(),
                &mut out,
                &raw,
                &raw_config,
                ptr::null_mut(),
            )
        })?;
        Ok(DecoderLayer {
            // SAFETY: success gives a new handle we now own.
            raw: unsafe { Handle::new(out, "layer") }?,
            layer,
            hidden: h,
        })
    }

    /// Hidden size: features of x and y.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// The C handle, for calls through `spinfer_sys`. It stays owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::spinfer_decoder_layer_t {
        self.raw.as_ptr()
    }

    /// `y[n, hidden] = layer(x[n, hidden])` on a host context for the current step of
    /// `cache` (n = the step's tokens), using cache layer `layer_index`. Residuals are
    /// inside the layer.
    pub fn forward<T: Element>(
        &mut self,
        cache: &mut KvCache<'_>,
        layer_index: usize,
        x: &[T],
        n: usize,
        y: &mut [T],
    ) -> Result<()> {
        self.layer.require_host("DecoderLayer::forward")?;
        let io = ForwardIo::host(x, self.hidden, None, y, self.hidden, n)?;
        // SAFETY: host context, slices long enough.
        unsafe { self.forward_raw(cache, layer_index, io) }
    }

    /// [`DecoderLayer::forward`] in place: `hidden[n, hidden]` is replaced by the
    /// layer's output (spinfer.h allows y == x here).
    pub fn forward_in_place<T: Element>(
        &mut self,
        cache: &mut KvCache<'_>,
        layer_index: usize,
        hidden: &mut [T],
        n: usize,
    ) -> Result<()> {
        self.layer.require_host("DecoderLayer::forward_in_place")?;
        check_rows("hidden", hidden, n, self.hidden)?;
        let p = hidden.as_mut_ptr().cast::<c_void>();
        let io = ForwardIo::new(p, n, ptr::null(), p, T::DTYPE, ptr::null_mut());
        // SAFETY: as forward (host slice, default stream); the C API documents that y
        // may equal x.
        unsafe { self.forward_raw(cache, layer_index, io) }
    }

    /// The forward on a CUDA context with device pointers (y may equal x),
    /// asynchronous on `stream`.
    ///
    /// # Safety
    /// As [`crate::Linear::forward_device`], with x and y `[n, hidden]`.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn forward_device(
        &mut self,
        cache: &mut KvCache<'_>,
        layer_index: usize,
        x: *const c_void,
        n: usize,
        y: *mut c_void,
        dtype: DType,
        stream: *mut c_void,
    ) -> Result<()> {
        self.layer.require_device("DecoderLayer::forward_device")?;
        let io = ForwardIo::new(x, n, ptr::null(), y, dtype, stream);
        self.forward_raw(cache, layer_index, io)
    }

    /// The C forward; a decoder layer adds its residuals itself (`io.residual` unused).
    unsafe fn forward_raw(
        &mut self,
        cache: &mut KvCache<'_>,
        layer_index: usize,
        io: ForwardIo,
    ) -> Result<()> {
        check(sys::spinfer_decoder_layer_forward(
            self.layer.ctx.as_ptr(),
            self.as_ptr(),
            cache.as_ptr(),
            to_c_int(layer_index, "layer_index")?,
            io.x,
            to_i64(io.n, "n")?,
            io.y,
            io.dtype.to_raw(),
            io.stream,
        ))
    }

    /// Destroys the layer now and reports the library's status.
    pub fn close(self) -> Result<()> {
        self.raw.close()
    }
}
