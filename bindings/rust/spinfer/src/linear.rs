//! `Linear`: a sparse linear layer y = act(x * W^T + bias) (+ residual)
//! (`spinfer_linear_t`, spinfer.h §7.1).
use std::os::raw::c_void;
use std::ptr;

use spinfer_sys as sys;

use crate::context::Context;
use crate::dtype::{DType, Element};
use crate::error::{check, Result};
use crate::ffi::{library_defaults, Handle};
use crate::layer_common::{dims, Activation, DenseArgs, ForwardIo, HostArray, LayerContext};
use crate::matrix::Matrix;

/// Options of [`Linear::new`]. `Default` gives the library's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearConfig {
    /// Activation after the product and bias (default None).
    pub activation: Activation,
}

impl Default for LinearConfig {
    fn default() -> Self {
        LinearConfig {
            activation: Activation::None,
        }
    }
}

impl LinearConfig {
    fn to_raw(self) -> Result<sys::spinfer_linear_config_t> {
        // SAFETY: plain data; the library sets struct_size and the defaults.
        let mut raw = unsafe { library_defaults(sys::spinfer_linear_config_init) }?;
        raw.activation = self.activation.to_raw();
        Ok(raw)
    }
}

/// A sparse linear layer on a context, owned by Rust; destroyed on drop.
///
/// The layer borrows its context and its matrix for `'a`: spinfer.h says a layer
/// refers to the matrix it did not copy and must be destroyed before its context, so
/// neither can be dropped while the layer lives:
///
/// ```compile_fail,E0505
/// use spinfer::{Context, DType, Linear, LinearConfig, Matrix};
/// let ctx = Context::host().unwrap();
/// let w = Matrix::encode(&[1.0f32, 0.0, 0.0, 2.0], 2, 2, DType::F16).unwrap();
/// let mut layer = Linear::new(&ctx, &w, None, &LinearConfig::default()).unwrap();
/// drop(w); // error[E0505]: cannot move out of `w` because it is borrowed
/// let mut y = [0.0f32; 2];
/// layer.forward(&[1.0f32, 1.0], 1, None, &mut y).unwrap();
/// ```
///
/// `close` consumes the layer, so using it afterwards does not compile either:
///
/// ```compile_fail,E0382
/// use spinfer::{Context, DType, Linear, LinearConfig, Matrix};
/// let ctx = Context::host().unwrap();
/// let w = Matrix::encode(&[1.0f32, 0.0, 0.0, 2.0], 2, 2, DType::F16).unwrap();
/// let mut layer = Linear::new(&ctx, &w, None, &LinearConfig::default()).unwrap();
/// layer.close().unwrap();
/// let mut y = [0.0f32; 2];
/// layer.forward(&[1.0f32, 1.0], 1, None, &mut y).unwrap(); // error[E0382]: use of moved value
/// ```
///
/// A layer runs one forward at a time (it owns scratch memory), so `forward` takes
/// `&mut self`. It may move to another thread (`Send`) but is not `Sync`.
#[derive(Debug)]
pub struct Linear<'a> {
    raw: Handle<'a, sys::spinfer_linear_t>,
    layer: LayerContext<'a>,
    in_features: usize,
    out_features: usize,
}

// SAFETY: spinfer.h §7: a layer handle is used by one thread at a time, from any
// thread; every call that uses the handle takes `&mut self` or `self`.
unsafe impl Send for Linear<'_> {}

impl<'a> Linear<'a> {
    /// A linear layer over `w` (`[out_features, in_features]`; a host matrix on a host
    /// context; on a CUDA context a device matrix, or a host one the layer uploads)
    /// with an optional `bias` of `out_features` elements (copied).
    pub fn new(
        ctx: &'a Context,
        w: &'a Matrix,
        bias: Option<HostArray<'_>>,
        config: &LinearConfig,
    ) -> Result<Linear<'a>> {
        let layer = LayerContext::new(ctx)?;
        let (rows, cols) = dims(w)?;
        let mut dense = DenseArgs::new();
        let bias = dense.take(bias, rows, "bias")?;
        let raw_config = config.to_raw()?;
        let mut out = ptr::null_mut();
        // SAFETY: live handles; `bias` spans `rows` elements of the given dtype.
        check(unsafe {
            sys::spinfer_linear_create(
                ctx.as_ptr(),
                &mut out,
                w.as_ptr(),
                bias,
                dense.dtype().to_raw(),
                &raw_config,
                ptr::null_mut(),
            )
        })?;
        Ok(Linear {
            // SAFETY: success gives a new handle we now own.
            raw: unsafe { Handle::new(out, "layer") }?,
            layer,
            in_features: cols,
            out_features: rows,
        })
    }

    /// K: features of x.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// M: features of y.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// The C handle, for calls through `spinfer_sys`. It stays owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::spinfer_linear_t {
        self.raw.as_ptr()
    }

    /// `y[n, out] = act(x[n, in] * W^T + bias) + residual[n, out]` on a host context;
    /// the element type gives the dtype. Synchronous.
    pub fn forward<T: Element>(
        &mut self,
        x: &[T],
        n: usize,
        residual: Option<&[T]>,
        y: &mut [T],
    ) -> Result<()> {
        self.layer.require_host("Linear::forward")?;
        let io = ForwardIo::host(x, self.in_features, residual, y, self.out_features, n)?;
        // SAFETY: host context; the slices span what the library reads and writes, and
        // `y` is borrowed mutably, so it overlaps neither input.
        unsafe {
            self.layer
                .run_forward(sys::spinfer_linear_forward, self.as_ptr(), io)
        }
    }

    /// The forward on a CUDA context with device pointers, asynchronous on `stream`
    /// (a `cudaStream_t`; NULL = default stream); `dtype` must be the weights' dtype.
    ///
    /// # Safety
    /// `x` (`[n, in]`), `residual` (`[n, out]` or NULL) and `y` (`[n, out]`) must be
    /// 16-byte aligned device allocations on the context's GPU holding `dtype`
    /// elements, `y` must not overlap the others, and all must stay alive until
    /// `stream` has run the forward. `stream` must be NULL or a live stream.
    pub unsafe fn forward_device(
        &mut self,
        x: *const c_void,
        n: usize,
        residual: *const c_void,
        y: *mut c_void,
        dtype: DType,
        stream: *mut c_void,
    ) -> Result<()> {
        self.layer.require_device("Linear::forward_device")?;
        let io = ForwardIo::new(x, n, residual, y, dtype, stream);
        self.layer
            .run_forward(sys::spinfer_linear_forward, self.as_ptr(), io)
    }

    /// Destroys the layer now and reports the library's status (dropping it does the
    /// same but cannot report a failure). Further use is a compile error.
    pub fn close(self) -> Result<()> {
        self.raw.close()
    }
}
