//! `Context`: the backend choice and its state (`spinfer_context_t`), and the
//! products Y = X * W^T (+ bias) it runs.
use std::os::raw::c_void;
use std::ptr;

use spinfer_sys as sys;

use crate::dtype::{DType, Element};
use crate::error::{check, Error, Result, Status};
use crate::ffi::{library_defaults, Handle};
use crate::matrix::{Location, Matrix};
use crate::shape::{required_len, to_i64};

/// Where work runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// CUDA when the library has CUDA and a GPU is present, else the host.
    Auto,
    /// The multi-threaded CPU backend.
    Host,
    /// An NVIDIA GPU.
    Cuda,
}

impl Backend {
    fn to_raw(self) -> sys::spinfer_backend_t {
        match self {
            Backend::Auto => sys::SPINFER_BACKEND_AUTO,
            Backend::Host => sys::SPINFER_BACKEND_HOST,
            Backend::Cuda => sys::SPINFER_BACKEND_CUDA,
        }
    }

    fn from_raw(raw: sys::spinfer_backend_t) -> Result<Backend> {
        match raw {
            sys::SPINFER_BACKEND_AUTO => Ok(Backend::Auto),
            sys::SPINFER_BACKEND_HOST => Ok(Backend::Host),
            sys::SPINFER_BACKEND_CUDA => Ok(Backend::Cuda),
            other => Err(Error::rust(
                Status::InternalError,
                format!("library reported unknown backend {}", other),
            )),
        }
    }
}

/// Options of [`Context::with_config`]. `Default` gives the library's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextConfig {
    /// Backend to use (default Auto).
    pub backend: Backend,
    /// CUDA device ordinal (default 0).
    pub device: i32,
    /// Host backend threads; 0 = hardware concurrency (default).
    pub host_threads: i32,
    /// CUDA split-K workspace slots, 16 MiB each (default 4; 0 = no split-K; at most 64).
    pub spmm_workspace_slots: i32,
    /// CUDA: allocate each workspace slot at its first use (outside graph capture)
    /// instead of with the context (default false).
    pub spmm_workspace_lazy: bool,
}

impl Default for ContextConfig {
    fn default() -> Self {
        ContextConfig {
            backend: Backend::Auto,
            device: 0,
            host_threads: 0,
            spmm_workspace_slots: 4,
            spmm_workspace_lazy: false,
        }
    }
}

/// Expert overrides of the CUDA kernel choice; 0 lets the library choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpmmOptions {
    /// Number of K slices (split-K); 0 = chosen by the library.
    pub split_k: i32,
    /// N columns per block (8, 16, 32, 64); 0 = chosen by the library.
    pub tile_n: i32,
}

impl SpmmOptions {
    fn to_raw(self) -> Result<sys::spinfer_spmm_options_t> {
        // SAFETY: plain data; the library sets struct_size and the defaults.
        let mut raw = unsafe { library_defaults(sys::spinfer_spmm_options_init) }?;
        raw.split_k = self.split_k;
        raw.tile_n = self.tile_n;
        Ok(raw)
    }
}

/// A library context, owned by Rust; the C handle is destroyed on drop.
///
/// The C API documents that a context may be used from many threads at once (host
/// calls run concurrently; CUDA calls need one stream per thread, which only the
/// `unsafe` device-pointer calls take), so `Context` is `Send` and `Sync`.
///
/// Using a context after [`Context::close`] is rejected by the compiler:
///
/// ```compile_fail,E0382
/// let ctx = spinfer::Context::host().unwrap();
/// ctx.close().unwrap();
/// let _ = ctx.backend(); // error[E0382]: borrow of moved value: `ctx`
/// ```
#[derive(Debug)]
pub struct Context {
    raw: Handle<'static, sys::spinfer_context_t>,
}

// SAFETY: see the type's documentation (spinfer.h, "Thread safety").
unsafe impl Send for Context {}
unsafe impl Sync for Context {}

impl Context {
    /// Creates a context for `backend`. Cuda without a CUDA build gives NotSupported,
    /// without a GPU NoDevice.
    pub fn new(backend: Backend) -> Result<Context> {
        let mut out = ptr::null_mut();
        // SAFETY: valid out pointer.
        check(unsafe { sys::spinfer_context_create(&mut out, backend.to_raw()) })?;
        Context::own(out)
    }

    /// A host (CPU) context: always available.
    pub fn host() -> Result<Context> {
        Context::new(Backend::Host)
    }

    /// Creates a context from a config.
    pub fn with_config(config: &ContextConfig) -> Result<Context> {
        // SAFETY: plain data; the library sets struct_size and the defaults.
        let mut raw = unsafe { library_defaults(sys::spinfer_context_config_init) }?;
        raw.backend = config.backend.to_raw();
        raw.device = config.device;
        raw.host_threads = config.host_threads;
        raw.spmm_workspace_slots = config.spmm_workspace_slots;
        raw.spmm_workspace_lazy = i32::from(config.spmm_workspace_lazy);
        let mut out = ptr::null_mut();
        // SAFETY: valid pointers.
        check(unsafe { sys::spinfer_context_create_ex(&mut out, &raw) })?;
        Context::own(out)
    }

    /// Owns the handle a successful create call returned.
    fn own(raw: *mut sys::spinfer_context_t) -> Result<Context> {
        // SAFETY: a new handle nothing else owns.
        unsafe { Handle::new(raw, "context") }.map(|raw| Context { raw })
    }

    /// The C handle, for calls through `spinfer_sys`. It stays owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::spinfer_context_t {
        self.raw.as_ptr()
    }

    /// The backend the context resolved to (never Auto).
    pub fn backend(&self) -> Result<Backend> {
        let mut raw = sys::SPINFER_BACKEND_AUTO;
        // SAFETY: live handle, valid out pointer.
        check(unsafe { sys::spinfer_context_get_backend(self.as_ptr(), &mut raw) })?;
        Backend::from_raw(raw)
    }

    /// Y = X * W^T (+ bias) on the host, with fp32 accumulation; `w` must be a host
    /// matrix. `x` is `[n, cols(W)]`, `y` is `[n, rows(W)]`, both densely packed;
    /// `bias` is `[rows(W)]`. The element type `T` gives the dtype. Synchronous.
    pub fn spmm<T: Element>(
        &self,
        w: &Matrix,
        x: &[T],
        n: usize,
        bias: Option<&[T]>,
        y: &mut [T],
    ) -> Result<()> {
        let info = w.info()?;
        self.spmm_strided(w, x, n, info.cols, bias, y, info.rows, None)
    }

    /// [`Context::spmm`] with leading dimensions `ldx` and `ldy` (elements) and
    /// optional expert overrides.
    #[allow(clippy::too_many_arguments)]
    pub fn spmm_strided<T: Element>(
        &self,
        w: &Matrix,
        x: &[T],
        n: usize,
        ldx: usize,
        bias: Option<&[T]>,
        y: &mut [T],
        ldy: usize,
        options: Option<&SpmmOptions>,
    ) -> Result<()> {
        let info = w.info()?;
        if info.location != Location::Host {
            return Err(Error::rust(
                Status::WrongLocation,
                "spmm takes host slices, so w must be a host matrix; use spmm_device for a device matrix",
            ));
        }
        check_len("x", x.len(), n, info.cols, ldx)?;
        check_len("y", y.len(), n, info.rows, ldy)?;
        if let Some(b) = bias {
            if b.len() < info.rows {
                return Err(Error::rust(
                    Status::ShapeMismatch,
                    format!(
                        "bias has {} elements, but w has {} rows",
                        b.len(),
                        info.rows
                    ),
                ));
            }
        }
        // SAFETY: every slice spans what the library reads or writes for these sizes;
        // `y` is borrowed mutably, so it cannot overlap `x` or `bias`.
        unsafe {
            self.spmm_raw(
                w,
                x.as_ptr().cast(),
                n,
                ldx,
                bias.map_or(ptr::null(), |b| b.as_ptr().cast()),
                y.as_mut_ptr().cast(),
                ldy,
                T::DTYPE,
                options,
                ptr::null_mut(),
            )
        }
    }

    /// Y = X * W^T (+ bias) with device pointers on a CUDA context, asynchronous on
    /// `stream` (a `cudaStream_t`; NULL = default stream). `dtype` must be the
    /// matrix's storage dtype.
    ///
    /// # Safety
    /// `x`, `bias` (or NULL) and `y` must be device allocations on the context's GPU
    /// spanning `[n, ldx]`, `[rows]` and `[n, ldy]` elements of `dtype`, `y` must not
    /// overlap them, and all must stay alive until `stream` has run the product.
    /// Threads sharing this context must each use their own stream.
    /// `w` must be a device matrix (a host matrix gives WrongLocation here, since the
    /// library would run it on the host and read the pointers as host memory).
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn spmm_device(
        &self,
        w: &Matrix,
        x: *const c_void,
        n: usize,
        ldx: usize,
        bias: *const c_void,
        y: *mut c_void,
        ldy: usize,
        dtype: DType,
        options: Option<&SpmmOptions>,
        stream: *mut c_void,
    ) -> Result<()> {
        if w.info()?.location != Location::Device {
            return Err(Error::rust(
                Status::WrongLocation,
                "spmm_device needs a device matrix (Context::upload); use spmm for a host matrix",
            ));
        }
        self.spmm_raw(w, x, n, ldx, bias, y, ldy, dtype, options, stream)
    }

    /// The product behind [`Context::spmm_strided`] and [`Context::spmm_device`], after
    /// their checks.
    #[allow(clippy::too_many_arguments)]
    unsafe fn spmm_raw(
        &self,
        w: &Matrix,
        x: *const c_void,
        n: usize,
        ldx: usize,
        bias: *const c_void,
        y: *mut c_void,
        ldy: usize,
        dtype: DType,
        options: Option<&SpmmOptions>,
        stream: *mut c_void,
    ) -> Result<()> {
        let options = options.map(|o| o.to_raw()).transpose()?;
        check(sys::spinfer_spmm_ex(
            self.as_ptr(),
            w.as_ptr(),
            x,
            to_i64(n, "n")?,
            to_i64(ldx, "ldx")?,
            bias,
            y,
            to_i64(ldy, "ldy")?,
            dtype.to_raw(),
            options.as_ref().map_or(ptr::null(), |o| o as *const _),
            stream,
        ))
    }

    /// Copies a host matrix to the context's GPU (default stream). The library stages
    /// host matrices through pinned memory, so `host` may be dropped on return.
    pub fn upload(&self, host: &Matrix) -> Result<Matrix> {
        let mut out = ptr::null_mut();
        // SAFETY: live handles, valid out pointer.
        check(unsafe {
            sys::spinfer_matrix_upload(self.as_ptr(), host.as_ptr(), &mut out, ptr::null_mut())
        })?;
        // SAFETY: success gives a new handle we now own.
        unsafe { Matrix::from_raw(out) }
    }

    /// Copies a device matrix back to a new host matrix (synchronises the default stream).
    pub fn download(&self, device: &Matrix) -> Result<Matrix> {
        let mut out = ptr::null_mut();
        // SAFETY: live handles, valid out pointer.
        check(unsafe {
            sys::spinfer_matrix_download(self.as_ptr(), device.as_ptr(), &mut out, ptr::null_mut())
        })?;
        // SAFETY: success gives a new handle we now own.
        unsafe { Matrix::from_raw(out) }
    }

    /// Encodes a dense row-major matrix that is already on the context's GPU into a
    /// new device matrix (synchronises `stream`).
    ///
    /// # Safety
    /// `dense` must be a device allocation on the context's GPU spanning
    /// `[rows, ld]` elements of `dense_dtype`.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn encode_device(
        &self,
        dense: *const c_void,
        dense_dtype: DType,
        rows: usize,
        cols: usize,
        ld: usize,
        storage: DType,
        stream: *mut c_void,
    ) -> Result<Matrix> {
        let mut out = ptr::null_mut();
        check(sys::spinfer_matrix_encode_device(
            self.as_ptr(),
            &mut out,
            dense,
            dense_dtype.to_raw(),
            to_i64(rows, "rows")?,
            to_i64(cols, "cols")?,
            to_i64(ld, "ld")?,
            storage.to_raw(),
            stream,
        ))?;
        Matrix::from_raw(out)
    }

    /// Destroys the context now and reports the library's status (dropping it does
    /// the same but cannot report a failure). Further use is a compile error.
    pub fn close(self) -> Result<()> {
        self.raw.close()
    }
}

/// Checks that a host slice spans `[rows, cols]` with leading dimension `ld`.
fn check_len(name: &str, len: usize, rows: usize, cols: usize, ld: usize) -> Result<()> {
    let need = required_len(rows, cols, ld)?;
    if len < need {
        return Err(Error::rust(
            Status::ShapeMismatch,
            format!(
                "{} has {} elements, but [{}, {}] with leading dimension {} needs {}",
                name, len, rows, cols, ld, need
            ),
        ));
    }
    Ok(())
}
