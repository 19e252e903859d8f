//! What the layer types (spinfer.h §7) share: the enums of the section, borrowed host
//! arrays for small dense parameters ([`HostArray`]), the checks Rust makes before
//! a call because the C API takes raw pointers without lengths, and the arguments and
//! call of a forward.
use std::marker::PhantomData;
use std::os::raw::c_void;
use std::ptr;

use spinfer_sys as sys;

use crate::context::{Backend, Context};
use crate::dtype::{Bf16, DType, Element, F16};
use crate::error::{check, Error, Result, Status};
use crate::matrix::Matrix;
use crate::shape::{required_len, to_i64};

/// Element-wise activation after a linear map or inside a gated MLP (`spinfer_activation_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    /// Identity.
    None,
    /// max(x, 0).
    Relu,
    /// x * Phi(x), exact erf form (Hugging Face "gelu").
    Gelu,
    /// tanh approximation of GELU (Hugging Face "gelu_new").
    GeluTanh,
    /// x * sigmoid(x) (Hugging Face "silu").
    Silu,
}

impl Activation {
    pub(crate) fn to_raw(self) -> sys::spinfer_activation_t {
        match self {
            Activation::None => sys::SPINFER_ACTIVATION_NONE,
            Activation::Relu => sys::SPINFER_ACTIVATION_RELU,
            Activation::Gelu => sys::SPINFER_ACTIVATION_GELU,
            Activation::GeluTanh => sys::SPINFER_ACTIVATION_GELU_TANH,
            Activation::Silu => sys::SPINFER_ACTIVATION_SILU,
        }
    }
}

/// Decoder family: fixes the norm, position encoding and MLP shape (`spinfer_arch_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// Pre-LN LayerNorm, learned positions, biases, fc1 -> act -> fc2.
    Opt,
    /// RMSNorm, RoPE, no biases, act(gate) * up -> down, grouped-query attention.
    Llama,
}

impl Arch {
    pub(crate) fn to_raw(self) -> sys::spinfer_arch_t {
        match self {
            Arch::Opt => sys::SPINFER_ARCH_OPT,
            Arch::Llama => sys::SPINFER_ARCH_LLAMA,
        }
    }

    pub(crate) fn from_raw(raw: sys::spinfer_arch_t) -> Result<Arch> {
        match raw {
            sys::SPINFER_ARCH_OPT => Ok(Arch::Opt),
            sys::SPINFER_ARCH_LLAMA => Ok(Arch::Llama),
            other => Err(Error::rust(
                Status::InternalError,
                format!("library reported unknown arch {}", other),
            )),
        }
    }
}

/// Shape of an MLP block (`spinfer_mlp_kind_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MlpKind {
    /// down(act(up(x))) (OPT: up = fc1, down = fc2).
    Plain,
    /// down(act(gate(x)) * up(x)) (LLaMA).
    Gated,
}

impl MlpKind {
    pub(crate) fn to_raw(self) -> sys::spinfer_mlp_kind_t {
        match self {
            MlpKind::Plain => sys::SPINFER_MLP_PLAIN,
            MlpKind::Gated => sys::SPINFER_MLP_GATED,
        }
    }
}

/// A borrowed host array of small dense parameters (a bias, a norm weight) in any of
/// the dense dtypes. The library copies it when the layer is made, so it only has to
/// live for that call. `From` converts any `&[f32]`, `&[F16]` or `&[Bf16]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HostArray<'d> {
    /// float32 values.
    F32(&'d [f32]),
    /// IEEE binary16 values.
    F16(&'d [F16]),
    /// bfloat16 values.
    BF16(&'d [Bf16]),
}

impl<'d> HostArray<'d> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            HostArray::F32(s) => s.len(),
            HostArray::F16(s) => s.len(),
            HostArray::BF16(s) => s.len(),
        }
    }

    /// True when the array has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        match self {
            HostArray::F32(_) => DType::F32,
            HostArray::F16(_) => DType::F16,
            HostArray::BF16(_) => DType::BF16,
        }
    }

    pub(crate) fn as_ptr(&self) -> *const c_void {
        match self {
            HostArray::F32(s) => s.as_ptr().cast(),
            HostArray::F16(s) => s.as_ptr().cast(),
            HostArray::BF16(s) => s.as_ptr().cast(),
        }
    }
}

impl<'d> From<&'d [f32]> for HostArray<'d> {
    fn from(s: &'d [f32]) -> Self {
        HostArray::F32(s)
    }
}
impl<'d> From<&'d [F16]> for HostArray<'d> {
    fn from(s: &'d [F16]) -> Self {
        HostArray::F16(s)
    }
}
impl<'d> From<&'d [Bf16]> for HostArray<'d> {
    fn from(s: &'d [Bf16]) -> Self {
        HostArray::BF16(s)
    }
}
impl<'d> From<&'d Vec<f32>> for HostArray<'d> {
    fn from(s: &'d Vec<f32>) -> Self {
        HostArray::F32(s)
    }
}
impl<'d> From<&'d Vec<F16>> for HostArray<'d> {
    fn from(s: &'d Vec<F16>) -> Self {
        HostArray::F16(s)
    }
}
impl<'d> From<&'d Vec<Bf16>> for HostArray<'d> {
    fn from(s: &'d Vec<Bf16>) -> Self {
        HostArray::BF16(s)
    }
}

/// The dense arrays of one create call, checked together: each must hold at least the
/// elements the library will read (the C API sees only a pointer), and all must share
/// one dtype (the C API takes a single dtype for them). Gives the pointers and dtype.
pub(crate) struct DenseArgs {
    dtype: Option<DType>,
}

impl DenseArgs {
    pub(crate) fn new() -> DenseArgs {
        DenseArgs { dtype: None }
    }

    /// Checks `array` against `need` elements and the dtype of the arrays seen so far;
    /// NULL for an absent array.
    pub(crate) fn take(
        &mut self,
        array: Option<HostArray<'_>>,
        need: usize,
        what: &str,
    ) -> Result<*const c_void> {
        let array = match array {
            None => return Ok(ptr::null()),
            Some(a) => a,
        };
        if array.len() < need {
            return Err(Error::rust(
                Status::ShapeMismatch,
                format!(
                    "{} has {} elements, but {} are needed",
                    what,
                    array.len(),
                    need
                ),
            ));
        }
        match self.dtype {
            Some(dt) if dt != array.dtype() => {
                return Err(Error::rust(
                    Status::UnsupportedDtype,
                    format!(
                        "{} is {:?}, but the other dense arrays of this call are {:?}: the C API takes one dtype for all",
                        what,
                        array.dtype(),
                        dt
                    ),
                ))
            }
            _ => self.dtype = Some(array.dtype()),
        }
        Ok(array.as_ptr())
    }

    /// The dtype to pass (F32 when no array was given: the library ignores it then).
    pub(crate) fn dtype(&self) -> DType {
        self.dtype.unwrap_or(DType::F32)
    }
}

/// Rows and columns of a matrix, for the length checks.
pub(crate) fn dims(m: &Matrix) -> Result<(usize, usize)> {
    let info = m.info()?;
    Ok((info.rows, info.cols))
}

/// What a layer handle shares with the others: the context it was made on (borrowed,
/// so the layer cannot outlive it), whether that context is the host, and a marker
/// borrowing the matrices the layer refers to.
#[derive(Debug)]
pub(crate) struct LayerContext<'a> {
    pub(crate) ctx: &'a Context,
    pub(crate) on_host: bool,
    _matrices: PhantomData<&'a Matrix>,
}

impl<'a> LayerContext<'a> {
    pub(crate) fn new(ctx: &'a Context) -> Result<LayerContext<'a>> {
        Ok(LayerContext {
            ctx,
            on_host: ctx.backend()? == Backend::Host,
            _matrices: PhantomData,
        })
    }

    /// Safe forwards take host slices, which only a host context may read.
    pub(crate) fn require_host(&self, what: &str) -> Result<()> {
        if self.on_host {
            Ok(())
        } else {
            Err(Error::rust(
                Status::WrongLocation,
                format!(
                    "{} takes host slices, so it needs a host context; use the unsafe *_device call on a CUDA context",
                    what
                ),
            ))
        }
    }

    /// Device forwards take device pointers, which a host context would read as host memory.
    pub(crate) fn require_device(&self, what: &str) -> Result<()> {
        if self.on_host {
            Err(Error::rust(
                Status::WrongLocation,
                format!(
                    "{} takes device pointers, so it needs a CUDA context; use the safe forward on a host context",
                    what
                ),
            ))
        } else {
            Ok(())
        }
    }

    /// Runs `forward` (the C forward of the layer type) for `layer` on this context.
    ///
    /// # Safety
    /// `layer` must be a live handle made on this context, and `io` must span what the
    /// library reads and writes on this context (spinfer.h §7).
    pub(crate) unsafe fn run_forward<L>(
        &self,
        forward: ForwardFn<L>,
        layer: *mut L,
        io: ForwardIo,
    ) -> Result<()> {
        check(forward(
            self.ctx.as_ptr(),
            layer,
            io.x,
            to_i64(io.n, "n")?,
            io.residual,
            io.y,
            io.dtype.to_raw(),
            io.stream,
        ))
    }
}

/// Checks that a packed activation slice holds `[n, features]`.
pub(crate) fn check_rows<T: Element>(
    name: &str,
    slice: &[T],
    n: usize,
    features: usize,
) -> Result<()> {
    let need = required_len(n, features, features)?;
    if slice.len() < need {
        return Err(Error::rust(
            Status::ShapeMismatch,
            format!(
                "{} has {} elements, but [n = {}, {}] needs {}",
                name,
                slice.len(),
                n,
                features,
                need
            ),
        ));
    }
    Ok(())
}

/// The C signature of the layer forwards without a cache (`spinfer_linear_forward`,
/// `spinfer_mlp_forward`): context, layer, x, n, residual, y, dtype, stream.
pub(crate) type ForwardFn<L> = unsafe extern "C" fn(
    *mut sys::spinfer_context_t,
    *mut L,
    *const c_void,
    i64,
    *const c_void,
    *mut c_void,
    sys::spinfer_dtype_t,
    *mut c_void,
) -> sys::spinfer_status_t;

/// The activation arguments of one layer forward (spinfer.h §7): `y[n, out] =
/// f(x[n, in]) + residual[n, out]` (residual NULL for none) in `dtype`, on `stream`.
pub(crate) struct ForwardIo {
    pub(crate) x: *const c_void,
    pub(crate) n: usize,
    pub(crate) residual: *const c_void,
    pub(crate) y: *mut c_void,
    pub(crate) dtype: DType,
    pub(crate) stream: *mut c_void,
}

impl ForwardIo {
    /// The arguments of a safe forward on host slices (synchronous: default stream),
    /// after checking that the slices hold `[n, in_features]` and `[n, out_features]`.
    pub(crate) fn host<T: Element>(
        x: &[T],
        in_features: usize,
        residual: Option<&[T]>,
        y: &mut [T],
        out_features: usize,
        n: usize,
    ) -> Result<ForwardIo> {
        check_rows("x", x, n, in_features)?;
        check_rows("y", y, n, out_features)?;
        if let Some(r) = residual {
            check_rows("residual", r, n, out_features)?;
        }
        Ok(ForwardIo {
            x: x.as_ptr().cast(),
            n,
            residual: residual.map_or(ptr::null(), |r| r.as_ptr().cast()),
            y: y.as_mut_ptr().cast(),
            dtype: T::DTYPE,
            stream: ptr::null_mut(),
        })
    }

    /// The arguments as given (by an unsafe device forward, or an in-place one).
    pub(crate) fn new(
        x: *const c_void,
        n: usize,
        residual: *const c_void,
        y: *mut c_void,
        dtype: DType,
        stream: *mut c_void,
    ) -> ForwardIo {
        ForwardIo {
            x,
            n,
            residual,
            y,
            dtype,
            stream,
        }
    }
}
