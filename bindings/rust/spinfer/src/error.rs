//! The error type: a status plus the message the library wrote for the failure.
use std::ffi::CStr;
use std::fmt;

use spinfer_sys as sys;

/// Kind of failure, one per `spinfer_status_t` of the C API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// NULL pointer, bad enum, negative size, or a string the C API cannot take.
    InvalidArgument,
    /// Sizes that do not agree with each other (shapes, leading dimensions, slice lengths).
    ShapeMismatch,
    /// A dtype this call or backend does not accept.
    UnsupportedDtype,
    /// A pointer or leading dimension that is not aligned as the CUDA backend needs.
    Misaligned,
    /// A host or device allocation failed.
    OutOfMemory,
    /// A file could not be opened, read or written.
    IoError,
    /// Encoded data or a file breaks an invariant of the format.
    CorruptData,
    /// A format version this library does not understand.
    UnsupportedVersion,
    /// A named matrix is not in the file.
    NotFound,
    /// The backend cannot do this (for example CUDA in a build without CUDA).
    NotSupported,
    /// CUDA was asked for but no usable GPU is present.
    NoDevice,
    /// Host data given where device data is needed, or the other way round.
    WrongLocation,
    /// A CUDA runtime call failed.
    CudaError,
    /// A bug in spinfer.
    InternalError,
    /// A status this crate does not know (a newer library); the raw value.
    Unknown(u32),
}

impl Status {
    /// The status for a raw `spinfer_status_t`; `None` for SUCCESS.
    pub fn from_raw(raw: sys::spinfer_status_t) -> Option<Status> {
        Some(match raw {
            sys::SPINFER_STATUS_SUCCESS => return None,
            sys::SPINFER_STATUS_INVALID_ARGUMENT => Status::InvalidArgument,
            sys::SPINFER_STATUS_SHAPE_MISMATCH => Status::ShapeMismatch,
            sys::SPINFER_STATUS_UNSUPPORTED_DTYPE => Status::UnsupportedDtype,
            sys::SPINFER_STATUS_MISALIGNED => Status::Misaligned,
            sys::SPINFER_STATUS_OUT_OF_MEMORY => Status::OutOfMemory,
            sys::SPINFER_STATUS_IO_ERROR => Status::IoError,
            sys::SPINFER_STATUS_CORRUPT_DATA => Status::CorruptData,
            sys::SPINFER_STATUS_UNSUPPORTED_VERSION => Status::UnsupportedVersion,
            sys::SPINFER_STATUS_NOT_FOUND => Status::NotFound,
            sys::SPINFER_STATUS_NOT_SUPPORTED => Status::NotSupported,
            sys::SPINFER_STATUS_NO_DEVICE => Status::NoDevice,
            sys::SPINFER_STATUS_WRONG_LOCATION => Status::WrongLocation,
            sys::SPINFER_STATUS_CUDA_ERROR => Status::CudaError,
            sys::SPINFER_STATUS_INTERNAL_ERROR => Status::InternalError,
            other => Status::Unknown(other),
        })
    }

    /// The raw `spinfer_status_t` value.
    pub fn to_raw(self) -> sys::spinfer_status_t {
        match self {
            Status::InvalidArgument => sys::SPINFER_STATUS_INVALID_ARGUMENT,
            Status::ShapeMismatch => sys::SPINFER_STATUS_SHAPE_MISMATCH,
            Status::UnsupportedDtype => sys::SPINFER_STATUS_UNSUPPORTED_DTYPE,
            Status::Misaligned => sys::SPINFER_STATUS_MISALIGNED,
            Status::OutOfMemory => sys::SPINFER_STATUS_OUT_OF_MEMORY,
            Status::IoError => sys::SPINFER_STATUS_IO_ERROR,
            Status::CorruptData => sys::SPINFER_STATUS_CORRUPT_DATA,
            Status::UnsupportedVersion => sys::SPINFER_STATUS_UNSUPPORTED_VERSION,
            Status::NotFound => sys::SPINFER_STATUS_NOT_FOUND,
            Status::NotSupported => sys::SPINFER_STATUS_NOT_SUPPORTED,
            Status::NoDevice => sys::SPINFER_STATUS_NO_DEVICE,
            Status::WrongLocation => sys::SPINFER_STATUS_WRONG_LOCATION,
            Status::CudaError => sys::SPINFER_STATUS_CUDA_ERROR,
            Status::InternalError => sys::SPINFER_STATUS_INTERNAL_ERROR,
            Status::Unknown(raw) => raw,
        }
    }

    /// The C name of the status, e.g. "SPINFER_STATUS_CORRUPT_DATA" (from the library).
    pub fn name(self) -> String {
        // SAFETY: the library returns static NUL-terminated storage, never NULL.
        unsafe { c_str_to_string(sys::spinfer_status_string(self.to_raw())) }
    }
}

/// A failed spinfer call: what kind of failure, and the message naming the problem.
///
/// Errors from the library carry the library's own message (read from
/// `spinfer_last_error_message()` on the failing thread right after the call). A few
/// checks only Rust can make (a slice shorter than its shape, a path holding a NUL
/// byte) produce an error of the same type with a message written by this crate;
/// [`Error::is_from_library`] tells the two apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: Status,
    message: String,
    from_library: bool,
}

impl Error {
    /// The kind of failure.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The message naming the problem.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when the status and message came from libspinfer, false when this crate
    /// rejected the call before reaching the library.
    pub fn is_from_library(&self) -> bool {
        self.from_library
    }

    /// An error found by this crate (not by the library).
    pub(crate) fn rust(status: Status, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
            from_library: false,
        }
    }

    /// The error of a library call that returned `raw` (not SUCCESS) on this thread.
    fn from_library_status(status: Status) -> Error {
        // SAFETY: never NULL; valid until the next spinfer call on this thread, and we
        // copy it right away.
        let message = unsafe { c_str_to_string(sys::spinfer_last_error_message()) };
        Error {
            status,
            message,
            from_library: true,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.status.name())
    }
}

impl std::error::Error for Error {}

/// Result of every fallible call of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Turns a raw status returned by a `spinfer_sys` call into a `Result`, taking the
/// library's message for failures. Call it on the same thread, right after the call.
pub fn check(raw: sys::spinfer_status_t) -> Result<()> {
    match Status::from_raw(raw) {
        None => Ok(()),
        Some(status) => Err(Error::from_library_status(status)),
    }
}

/// Copies a NUL-terminated C string (NULL gives "").
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string.
pub(crate) unsafe fn c_str_to_string(ptr: *const std::os::raw::c_char) -> String {
    if ptr.is_null() {
        String::new()
    } else {
        CStr::from_ptr(ptr).to_string_lossy().into_owned()
    }
}
