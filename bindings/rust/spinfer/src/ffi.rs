//! What every wrapper does with the C API: own a handle (destroyed on drop or by an
//! explicit close that reports the status) and start a config struct from the
//! library's defaults.
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

use spinfer_sys as sys;

use crate::error::{check, Error, Result, Status};

/// A C handle type together with the library function that destroys it.
pub(crate) trait Destroy {
    /// Frees `raw`.
    ///
    /// # Safety
    /// `raw` must be a live handle of this type that nothing uses afterwards.
    unsafe fn destroy(raw: *mut Self) -> sys::spinfer_status_t;
}

macro_rules! destroyed_by {
    ($($handle:ident => $destroy:ident,)*) => {$(
        impl Destroy for sys::$handle {
            unsafe fn destroy(raw: *mut Self) -> sys::spinfer_status_t {
                sys::$destroy(raw)
            }
        }
    )*};
}

destroyed_by! {
    spinfer_context_t => spinfer_context_destroy,
    spinfer_matrix_t => spinfer_matrix_destroy,
    spinfer_linear_t => spinfer_linear_destroy,
    spinfer_mlp_t => spinfer_mlp_destroy,
    spinfer_kv_cache_t => spinfer_kv_cache_destroy,
    spinfer_attention_t => spinfer_attention_destroy,
    spinfer_decoder_layer_t => spinfer_decoder_layer_destroy,
    spinfer_model_t => spinfer_model_destroy,
}

/// An owned, non-NULL C handle, destroyed when dropped. `'a` is what the handle refers
/// to without owning (its context, its matrices; `'static` for none): the destroy
/// call may still use those, so, as for any type with a `Drop` that names a lifetime,
/// the compiler requires them to outlive the handle, whatever the declaration order:
///
/// ```compile_fail,E0597
/// use spinfer::{Context, DType, Linear, LinearConfig, Matrix};
/// let layer;
/// let ctx = Context::host().unwrap();
/// let w = Matrix::encode(&[1.0f32, 0.0, 0.0, 2.0], 2, 2, DType::F16).unwrap();
/// layer = Linear::new(&ctx, &w, None, &LinearConfig::default()).unwrap();
/// // error[E0597]: `w` does not live long enough (dropped before `layer`)
/// ```
///
/// Not `Send` or `Sync` by itself: each wrapper states what spinfer.h allows.
pub(crate) struct Handle<'a, T: Destroy> {
    raw: NonNull<T>,
    _refers_to: PhantomData<&'a ()>,
}

impl<'a, T: Destroy> Handle<'a, T> {
    /// Takes ownership of the handle a successful create call returned; a NULL one
    /// (a library bug) is an InternalError naming `what`.
    ///
    /// # Safety
    /// `raw` must be NULL or a live handle that nothing else owns.
    pub(crate) unsafe fn new(raw: *mut T, what: &str) -> Result<Self> {
        match NonNull::new(raw) {
            Some(raw) => Ok(Handle {
                raw,
                _refers_to: PhantomData,
            }),
            None => Err(Error::rust(
                Status::InternalError,
                format!("library returned success and a NULL {}", what),
            )),
        }
    }

    /// The C handle; it stays owned by `self`.
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.raw.as_ptr()
    }

    /// Gives up ownership: the caller must destroy the handle.
    pub(crate) fn into_raw(self) -> *mut T {
        let raw = self.raw.as_ptr();
        std::mem::forget(self);
        raw
    }

    /// Destroys the handle now and reports the library's status (a drop cannot).
    pub(crate) fn close(self) -> Result<()> {
        let raw = self.into_raw();
        // SAFETY: we owned the handle, and `self` is gone.
        check(unsafe { T::destroy(raw) })
    }
}

impl<T: Destroy> Drop for Handle<'_, T> {
    fn drop(&mut self) {
        // SAFETY: we own the handle, and what it refers to is still alive (`'a`). A
        // failure cannot be reported from drop; the C API documents none for a valid
        // handle.
        unsafe {
            T::destroy(self.raw.as_ptr());
        }
    }
}

impl<T: Destroy> fmt::Debug for Handle<'_, T> {
    /// The address, as the `NonNull` it wraps shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.raw, f)
    }
}

/// A config struct holding the library's defaults: all zero, then filled by its
/// `spinfer_*_init` function (which also sets `struct_size`).
///
/// # Safety
/// `C` must be plain data for which all-zero bytes are a valid value (the
/// `spinfer_*_config_t` and `spinfer_decoder_weights_t` structs are), and `init` the
/// library's init function of that struct.
pub(crate) unsafe fn library_defaults<C>(
    init: unsafe extern "C" fn(*mut C) -> sys::spinfer_status_t,
) -> Result<C> {
    let mut raw: C = std::mem::zeroed();
    check(init(&mut raw))?;
    Ok(raw)
}
