//! `Attention`: sparse Q/K/V/O projections and causal attention over a [`KvCache`]
//! (`spinfer_attention_t`, spinfer.h §7.4).
use std::os::raw::c_void;
use std::ptr;

use spinfer_sys as sys;

use crate::context::Context;
use crate::dtype::{DType, Element};
use crate::error::{check, Result};
use crate::ffi::{library_defaults, Handle};
use crate::kv_cache::KvCache;
use crate::layer_common::{dims, DenseArgs, ForwardIo, HostArray, LayerContext};
use crate::matrix::Matrix;
use crate::shape::{to_c_int, to_i64};

/// Options of [`Attention::new`]. `Default` gives the library's defaults; `num_heads`
/// is 0 there and must be set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttentionConfig {
    /// Query heads (must be set).
    pub num_heads: usize,
    /// Key/value heads; 0 = num_heads (multi-head attention).
    pub num_kv_heads: usize,
    /// Elements per head; 0 = hidden / num_heads.
    pub head_dim: usize,
    /// Rotary positions, Hugging Face rotate-half form (default true).
    pub use_rope: bool,
    /// RoPE base (default 10000).
    pub rope_theta: f64,
    /// Score scale; 0 (default) = 1 / sqrt(head_dim).
    pub scale: f64,
    /// Largest n of a forward (default 512).
    pub max_tokens: usize,
    /// One SpMM over [Q; K; V] when the rows allow (default true).
    pub fuse_qkv: bool,
}

impl Default for AttentionConfig {
    fn default() -> Self {
        AttentionConfig {
            num_heads: 0,
            num_kv_heads: 0,
            head_dim: 0,
            use_rope: true,
            rope_theta: 10000.0,
            scale: 0.0,
            max_tokens: 512,
            fuse_qkv: true,
        }
    }
}

impl AttentionConfig {
    fn to_raw(self) -> Result<sys::spinfer_attention_config_t> {
        // SAFETY: plain data; the library sets struct_size and the defaults.
        let mut raw = unsafe { library_defaults(sys::spinfer_attention_config_init) }?;
        raw.num_heads = to_c_int(self.num_heads, "num_heads")?;
        raw.num_kv_heads = to_c_int(self.num_kv_heads, "num_kv_heads")?;
        raw.head_dim = to_c_int(self.head_dim, "head_dim")?;
        raw.use_rope = self.use_rope as i32;
        raw.rope_theta = self.rope_theta;
        raw.scale = self.scale;
        raw.max_tokens = to_i64(self.max_tokens, "max_tokens")?;
        raw.fuse_qkv = self.fuse_qkv as i32;
        Ok(raw)
    }
}

/// The projections of an attention block: borrowed for the layer's life; the
/// optional biases only for [`Attention::new`] (copied).
#[derive(Debug, Clone, Copy)]
pub struct AttentionWeights<'a, 'd> {
    /// `[heads * head_dim, hidden]`.
    pub q: &'a Matrix,
    /// `[kv_heads * head_dim, hidden]`.
    pub k: &'a Matrix,
    /// `[kv_heads * head_dim, hidden]`.
    pub v: &'a Matrix,
    /// `[hidden, heads * head_dim]`.
    pub o: &'a Matrix,
    /// `[rows of q]` or None.
    pub q_bias: Option<HostArray<'d>>,
    /// `[rows of k]` or None.
    pub k_bias: Option<HostArray<'d>>,
    /// `[rows of v]` or None.
    pub v_bias: Option<HostArray<'d>>,
    /// `[hidden]` or None.
    pub o_bias: Option<HostArray<'d>>,
}

impl<'a, 'd> AttentionWeights<'a, 'd> {
    /// The four projections without biases (set the bias fields to add them).
    pub fn new(q: &'a Matrix, k: &'a Matrix, v: &'a Matrix, o: &'a Matrix) -> Self {
        AttentionWeights {
            q,
            k,
            v,
            o,
            q_bias: None,
            k_bias: None,
            v_bias: None,
            o_bias: None,
        }
    }
}

/// A self-attention block on a context: `y = attention(x) + residual` for the current
/// step of a [`KvCache`]. Owned by Rust, destroyed on drop; borrows its context and
/// matrices for `'a` (see [`crate::Linear`]). One forward at a time; `Send`, not `Sync`.
#[derive(Debug)]
pub struct Attention<'a> {
    raw: Handle<'a, sys::spinfer_attention_t>,
    layer: LayerContext<'a>,
    hidden: usize,
    span: usize,
}

// SAFETY: spinfer.h §7: one thread at a time, any thread; uses take `&mut self`.
unsafe impl Send for Attention<'_> {}

impl<'a> Attention<'a> {
    /// An attention block from `weights` (shapes as in [`AttentionWeights`]).
    pub fn new(
        ctx: &'a Context,
        weights: AttentionWeights<'a, '_>,
        config: &AttentionConfig,
    ) -> Result<Attention<'a>> {
        let layer = LayerContext::new(ctx)?;
        let (q_rows, q_cols) = dims(weights.q)?;
        let (k_rows, _) = dims(weights.k)?;
        let (v_rows, _) = dims(weights.v)?;
        let (o_rows, _) = dims(weights.o)?;
        let mut dense = DenseArgs::new();
        let q_bias = dense.take(weights.q_bias, q_rows, "q bias")?;
        let k_bias = dense.take(weights.k_bias, k_rows, "k bias")?;
        let v_bias = dense.take(weights.v_bias, v_rows, "v bias")?;
        let o_bias = dense.take(weights.o_bias, o_rows, "o bias")?;
        let raw_config = config.to_raw()?;
        let mut out = ptr::null_mut();
        // SAFETY: live handles; each bias spans the rows of its matrix.
        check(unsafe {
            sys::spinfer_attention_create(
                ctx.as_ptr(),
                &mut out,
                weights.q.as_ptr(),
                weights.k.as_ptr(),
                weights.v.as_ptr(),
                weights.o.as_ptr(),
                q_bias,
                k_bias,
                v_bias,
                o_bias,
                dense.dtype().to_raw(),
                &raw_config,
                ptr::null_mut(),
            )
        })?;
        Ok(Attention {
            // SAFETY: success gives a new handle we now own.
            raw: unsafe { Handle::new(out, "attention") }?,
            layer,
            hidden: q_cols,
            // The library reads and writes [n, cols of q]; o's rows must agree.
            span: q_cols.max(o_rows),
        })
    }

    /// Hidden size: features of x and y.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// The C handle, for calls through `spinfer_sys`. It stays owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::spinfer_attention_t {
        self.raw.as_ptr()
    }

    /// `y[n, hidden] = attention(x[n, hidden]) + residual` on a host context for the
    /// current step of `cache` (n = the step's tokens), using cache layer
    /// `layer_index`: projects x, rotates Q and K, appends K and V to the cache,
    /// attends causally over each sequence's cached tokens, projects the result.
    pub fn forward<T: Element>(
        &mut self,
        cache: &mut KvCache<'_>,
        layer_index: usize,
        x: &[T],
        n: usize,
        residual: Option<&[T]>,
        y: &mut [T],
    ) -> Result<()> {
        self.layer.require_host("Attention::forward")?;
        let io = ForwardIo::host(x, self.span, residual, y, self.span, n)?;
        // SAFETY: host context, slices long enough, `y` exclusive; the cache is live.
        unsafe { self.forward_raw(cache, layer_index, io) }
    }

    /// The forward on a CUDA context with device pointers, asynchronous on `stream`.
    ///
    /// # Safety
    /// As [`crate::Linear::forward_device`], with x, residual and y `[n, hidden]`.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn forward_device(
        &mut self,
        cache: &mut KvCache<'_>,
        layer_index: usize,
        x: *const c_void,
        n: usize,
        residual: *const c_void,
        y: *mut c_void,
        dtype: DType,
        stream: *mut c_void,
    ) -> Result<()> {
        self.layer.require_device("Attention::forward_device")?;
        let io = ForwardIo::new(x, n, residual, y, dtype, stream);
        self.forward_raw(cache, layer_index, io)
    }

    unsafe fn forward_raw(
        &mut self,
        cache: &mut KvCache<'_>,
        layer_index: usize,
        io: ForwardIo,
    ) -> Result<()> {
        check(sys::spinfer_attention_forward(
            self.layer.ctx.as_ptr(),
            self.as_ptr(),
            cache.as_ptr(),
            to_c_int(layer_index, "layer_index")?,
            io.x,
            to_i64(io.n, "n")?,
            io.residual,
            io.y,
            io.dtype.to_raw(),
            io.stream,
        ))
    }

    /// Destroys the block now and reports the library's status.
    pub fn close(self) -> Result<()> {
        self.raw.close()
    }
}
