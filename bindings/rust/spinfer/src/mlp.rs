//! `Mlp`: the feed-forward block of a decoder, plain (OPT) or gated (LLaMA)
//! (`spinfer_mlp_t`, spinfer.h §7.2).
use std::os::raw::c_void;
use std::ptr;

use spinfer_sys as sys;

use crate::context::Context;
use crate::dtype::{DType, Element};
use crate::error::{check, Result};
use crate::ffi::{library_defaults, Handle};
use crate::layer_common::{
    dims, Activation, DenseArgs, ForwardIo, HostArray, LayerContext, MlpKind,
};
use crate::matrix::Matrix;
use crate::shape::to_i64;

/// Options of [`Mlp::new`]. `Default` gives the library's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlpConfig {
    /// Plain or gated (default Gated).
    pub kind: MlpKind,
    /// Activation (default Silu).
    pub activation: Activation,
    /// Largest n of a forward; sizes the scratch memory (default 512).
    pub max_tokens: usize,
    /// One SpMM over [gate; up] (a joined copy) when the rows allow (default true).
    pub fuse_gate_up: bool,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig {
            kind: MlpKind::Gated,
            activation: Activation::Silu,
            max_tokens: 512,
            fuse_gate_up: true,
        }
    }
}

impl MlpConfig {
    fn to_raw(self) -> Result<sys::spinfer_mlp_config_t> {
        // SAFETY: plain data; the library sets struct_size and the defaults.
        let mut raw = unsafe { library_defaults(sys::spinfer_mlp_config_init) }?;
        raw.kind = self.kind.to_raw();
        raw.activation = self.activation.to_raw();
        raw.max_tokens = to_i64(self.max_tokens, "max_tokens")?;
        raw.fuse_gate_up = self.fuse_gate_up as i32;
        Ok(raw)
    }
}

/// The matrices and biases of an MLP. Matrices are borrowed for the layer's life;
/// biases only for [`Mlp::new`] (they are copied).
#[derive(Debug, Clone, Copy)]
pub struct MlpWeights<'a, 'd> {
    /// Gated: `[inter, hidden]`; plain: None.
    pub gate: Option<&'a Matrix>,
    /// `[inter, hidden]` (OPT fc1).
    pub up: &'a Matrix,
    /// `[hidden, inter]` (OPT fc2).
    pub down: &'a Matrix,
    /// `[inter]` or None.
    pub up_bias: Option<HostArray<'d>>,
    /// `[hidden]` or None.
    pub down_bias: Option<HostArray<'d>>,
}

impl<'a, 'd> MlpWeights<'a, 'd> {
    /// OPT-style down(act(up(x))) without biases (set the bias fields to add them).
    pub fn plain(up: &'a Matrix, down: &'a Matrix) -> Self {
        MlpWeights {
            gate: None,
            up,
            down,
            up_bias: None,
            down_bias: None,
        }
    }

    /// LLaMA-style down(act(gate(x)) * up(x)) without biases.
    pub fn gated(gate: &'a Matrix, up: &'a Matrix, down: &'a Matrix) -> Self {
        MlpWeights {
            gate: Some(gate),
            ..MlpWeights::plain(up, down)
        }
    }
}

/// An MLP block on a context: `y = mlp(x) + residual`. Owned by Rust, destroyed on
/// drop; borrows its context and matrices for `'a` (see [`crate::Linear`]). One forward
/// at a time (`&mut self`); `Send`, not `Sync`.
#[derive(Debug)]
pub struct Mlp<'a> {
    raw: Handle<'a, sys::spinfer_mlp_t>,
    layer: LayerContext<'a>,
    hidden: usize,
    /// Features the slices are checked for: the larger of up.cols and down.rows (equal
    /// in a valid MLP; the larger keeps the check memory-safe either way).
    span: usize,
}

// SAFETY: spinfer.h §7: one thread at a time, any thread; uses take `&mut self`.
unsafe impl Send for Mlp<'_> {}

impl<'a> Mlp<'a> {
    /// An MLP from `weights` (shapes as in [`MlpWeights`]); `config.kind` must agree
    /// with whether `gate` is given (the library checks).
    pub fn new(
        ctx: &'a Context,
        weights: MlpWeights<'a, '_>,
        config: &MlpConfig,
    ) -> Result<Mlp<'a>> {
        let layer = LayerContext::new(ctx)?;
        let (up_rows, up_cols) = dims(weights.up)?;
        let (down_rows, _) = dims(weights.down)?;
        let mut dense = DenseArgs::new();
        let up_bias = dense.take(weights.up_bias, up_rows, "up bias")?;
        let down_bias = dense.take(weights.down_bias, down_rows, "down bias")?;
        let raw_config = config.to_raw()?;
        let mut out = ptr::null_mut();
        // SAFETY: live handles; each bias spans the rows of its matrix.
        check(unsafe {
            sys::spinfer_mlp_create(
                ctx.as_ptr(),
                &mut out,
                weights.gate.map_or(ptr::null(), |g| g.as_ptr()),
                weights.up.as_ptr(),
                weights.down.as_ptr(),
                up_bias,
                down_bias,
                dense.dtype().to_raw(),
                &raw_config,
                ptr::null_mut(),
            )
        })?;
        Ok(Mlp {
            // SAFETY: success gives a new handle we now own.
            raw: unsafe { Handle::new(out, "MLP") }?,
            layer,
            hidden: up_cols,
            span: down_rows.max(up_cols),
        })
    }

    /// Hidden size: features of x and y.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// The C handle, for calls through `spinfer_sys`. It stays owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::spinfer_mlp_t {
        self.raw.as_ptr()
    }

    /// `y[n, hidden] = mlp(x[n, hidden]) + residual` on a host context; synchronous.
    /// n must not exceed `max_tokens`.
    pub fn forward<T: Element>(
        &mut self,
        x: &[T],
        n: usize,
        residual: Option<&[T]>,
        y: &mut [T],
    ) -> Result<()> {
        self.layer.require_host("Mlp::forward")?;
        let io = ForwardIo::host(x, self.span, residual, y, self.span, n)?;
        // SAFETY: host context, slices long enough, `y` exclusive.
        unsafe {
            self.layer
                .run_forward(sys::spinfer_mlp_forward, self.as_ptr(), io)
        }
    }

    /// The forward on a CUDA context with device pointers, asynchronous on `stream`.
    ///
    /// # Safety
    /// As [`crate::Linear::forward_device`], with x, residual and y `[n, hidden]`.
    pub unsafe fn forward_device(
        &mut self,
        x: *const c_void,
        n: usize,
        residual: *const c_void,
        y: *mut c_void,
        dtype: DType,
        stream: *mut c_void,
    ) -> Result<()> {
        self.layer.require_device("Mlp::forward_device")?;
        let io = ForwardIo::new(x, n, residual, y, dtype, stream);
        self.layer
            .run_forward(sys::spinfer_mlp_forward, self.as_ptr(), io)
    }

    /// Destroys the MLP now and reports the library's status.
    pub fn close(self) -> Result<()> {
        self.raw.close()
    }
}
