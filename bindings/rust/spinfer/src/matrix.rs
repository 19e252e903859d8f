//! `Matrix`: an owned, immutable TCA-BME encoded sparse matrix (`spinfer_matrix_t`).
use std::ptr;

use spinfer_sys as sys;

use crate::dtype::{DType, Element};
use crate::error::{check, Error, Result, Status};
use crate::ffi::{library_defaults, Handle};
use crate::shape::{from_c_count, required_len, to_i64};

/// Where a matrix's arrays live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    /// Host memory: usable by the host backend, savable to files.
    Host,
    /// GPU memory: made by `Context::upload` or `Context::encode_device`.
    Device,
}

/// Facts about an encoded matrix (`spinfer_matrix_info_t`).
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixInfo {
    /// M: rows (output features).
    pub rows: usize,
    /// K: columns (input features).
    pub cols: usize,
    /// Storage dtype of the non-zeros (F16 or BF16).
    pub dtype: DType,
    /// Host or device.
    pub location: Location,
    /// CUDA device ordinal, or -1 for a host matrix.
    pub device: i32,
    /// TCA-BME layout version (docs/format.md).
    pub format_version: u32,
    /// Number of stored non-zeros.
    pub nnz: u64,
    /// 1 - nnz / (rows * cols).
    pub sparsity: f64,
    /// Bytes of values + bitmaps + group offsets.
    pub bytes: u64,
    /// rows * cols * 2 (the dense fp16/bf16 size).
    pub dense_bytes: u64,
    /// dense_bytes / bytes.
    pub compression_ratio: f64,
}

/// An encoded sparse matrix owned by Rust; the C handle is destroyed on drop.
///
/// A matrix is immutable once made, and the C API documents that any number of
/// threads may read, save, upload or multiply with it at once, so `Matrix` is `Send`
/// and `Sync`. Destruction needs ownership, so it can never race with a use.
///
/// Using a matrix after [`Matrix::close`] is rejected by the compiler:
///
/// ```compile_fail,E0382
/// let m = spinfer::Matrix::encode(&[1.0f32, 0.0, 0.0, 2.0], 2, 2, spinfer::DType::F16).unwrap();
/// m.close().unwrap();
/// let _ = m.info(); // error[E0382]: borrow of moved value: `m`
/// ```
#[derive(Debug)]
pub struct Matrix {
    raw: Handle<'static, sys::spinfer_matrix_t>,
}

// SAFETY: see the type's documentation (spinfer.h, "Thread safety").
unsafe impl Send for Matrix {}
unsafe impl Sync for Matrix {}

impl Matrix {
    /// Takes ownership of a handle a library call produced.
    ///
    /// # Safety
    /// `raw` must be a live matrix handle that nothing else owns.
    pub unsafe fn from_raw(raw: *mut sys::spinfer_matrix_t) -> Result<Matrix> {
        Handle::new(raw, "matrix").map(|raw| Matrix { raw })
    }

    /// The C handle, for calls through `spinfer_sys`. It stays owned by `self`.
    pub fn as_ptr(&self) -> *const sys::spinfer_matrix_t {
        self.raw.as_ptr()
    }

    /// Gives up ownership of the C handle; the caller must destroy it.
    pub fn into_raw(self) -> *mut sys::spinfer_matrix_t {
        self.raw.into_raw()
    }

    /// Encodes a dense row-major host matrix `[rows, cols]` (leading dimension `cols`)
    /// with non-zeros stored as `storage` (F16 or BF16). See [`Matrix::encode_strided`].
    pub fn encode<T: Element>(
        dense: &[T],
        rows: usize,
        cols: usize,
        storage: DType,
    ) -> Result<Matrix> {
        Matrix::encode_strided(dense, rows, cols, cols, storage)
    }

    /// Encodes a dense row-major host matrix `[rows, cols]` with leading dimension `ld`
    /// (elements). Values that are zero after rounding to `storage` are dropped, every
    /// other one is stored as its round-to-nearest-even `storage` value.
    pub fn encode_strided<T: Element>(
        dense: &[T],
        rows: usize,
        cols: usize,
        ld: usize,
        storage: DType,
    ) -> Result<Matrix> {
        let need = required_len(rows, cols, ld)?;
        if dense.len() < need {
            return Err(Error::rust(
                Status::ShapeMismatch,
                format!(
                    "dense slice has {} elements, but {} rows x {} cols with ld {} need {}",
                    dense.len(),
                    rows,
                    cols,
                    ld,
                    need
                ),
            ));
        }
        let mut out = ptr::null_mut();
        // SAFETY: `dense` holds at least the elements the library reads.
        check(unsafe {
            sys::spinfer_matrix_encode(
                &mut out,
                dense.as_ptr().cast(),
                T::DTYPE.to_raw(),
                to_i64(rows, "rows")?,
                to_i64(cols, "cols")?,
                to_i64(ld, "ld")?,
                storage.to_raw(),
            )
        })?;
        // SAFETY: success gives a new handle we now own.
        unsafe { Matrix::from_raw(out) }
    }

    /// Decodes a host matrix into a new dense row-major `Vec` of `rows * cols`
    /// elements of type `T` (exact for the storage dtype and for f32).
    pub fn decode<T: Element>(&self) -> Result<Vec<T>> {
        let info = self.info()?;
        let len = info
            .rows
            .checked_mul(info.cols)
            .ok_or_else(|| Error::rust(Status::InvalidArgument, "rows * cols overflows usize"))?;
        let mut dense = vec![T::default(); len];
        self.decode_into(&mut dense, info.cols)?;
        Ok(dense)
    }

    /// Decodes a host matrix into `dense` (`[rows, cols]`, leading dimension `ld`).
    pub fn decode_into<T: Element>(&self, dense: &mut [T], ld: usize) -> Result<()> {
        let info = self.info()?;
        let need = required_len(info.rows, info.cols, ld)?;
        if dense.len() < need {
            return Err(Error::rust(
                Status::ShapeMismatch,
                format!(
                    "dense slice has {} elements, but the {} x {} matrix with ld {} needs {}",
                    dense.len(),
                    info.rows,
                    info.cols,
                    ld,
                    need
                ),
            ));
        }
        // SAFETY: `dense` holds at least the elements the library writes.
        check(unsafe {
            sys::spinfer_matrix_decode(
                self.as_ptr(),
                dense.as_mut_ptr().cast(),
                T::DTYPE.to_raw(),
                to_i64(ld, "ld")?,
            )
        })
    }

    /// Shape, dtype, location, non-zero count and sizes of the matrix.
    pub fn info(&self) -> Result<MatrixInfo> {
        // SAFETY: the library's _init fills the plain-data struct (struct_size set).
        let mut raw = unsafe { library_defaults(sys::spinfer_matrix_info_init) }?;
        // SAFETY: live handle, valid out pointer.
        check(unsafe { sys::spinfer_matrix_get_info(self.as_ptr(), &mut raw) })?;
        let location = match raw.location {
            sys::SPINFER_LOCATION_HOST => Location::Host,
            sys::SPINFER_LOCATION_DEVICE => Location::Device,
            other => {
                return Err(Error::rust(
                    Status::InternalError,
                    format!("library reported unknown location {}", other),
                ))
            }
        };
        Ok(MatrixInfo {
            rows: from_c_count(raw.rows, "rows")?,
            cols: from_c_count(raw.cols, "cols")?,
            dtype: DType::from_raw(raw.dtype)?,
            location,
            device: raw.device,
            format_version: raw.format_version,
            nnz: from_c_count(raw.nnz, "nnz")? as u64,
            sparsity: raw.sparsity,
            bytes: raw.bytes,
            dense_bytes: raw.dense_bytes,
            compression_ratio: raw.compression_ratio,
        })
    }

    /// Checks every invariant of the format; CorruptData / UnsupportedVersion name
    /// the first broken one.
    pub fn validate(&self) -> Result<()> {
        // SAFETY: live handle.
        check(unsafe { sys::spinfer_matrix_validate(self.as_ptr()) })
    }

    /// Builds a host matrix from raw TCA-BME arrays (docs/format.md), copying and
    /// validating them. `values` are the 16-bit patterns of the stored non-zeros.
    pub fn from_arrays(
        rows: usize,
        cols: usize,
        dtype: DType,
        format_version: u32,
        values: &[u16],
        bitmaps: &[u64],
        group_offsets: &[u64],
    ) -> Result<Matrix> {
        let mut out = ptr::null_mut();
        // SAFETY: each pointer comes with its slice's exact length.
        check(unsafe {
            sys::spinfer_matrix_from_arrays(
                &mut out,
                to_i64(rows, "rows")?,
                to_i64(cols, "cols")?,
                dtype.to_raw(),
                format_version,
                values.as_ptr(),
                values.len() as u64,
                bitmaps.as_ptr(),
                bitmaps.len() as u64,
                group_offsets.as_ptr(),
                group_offsets.len() as u64,
            )
        })?;
        // SAFETY: success gives a new handle we now own.
        unsafe { Matrix::from_raw(out) }
    }

    /// Destroys the matrix now and reports the library's status (dropping it does
    /// the same but cannot report a failure). The handle is gone afterwards: the
    /// compiler rejects any further use.
    pub fn close(self) -> Result<()> {
        self.raw.close()
    }
}
