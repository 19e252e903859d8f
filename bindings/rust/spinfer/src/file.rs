//! Saving and loading matrices as safetensors files.
use std::ffi::CString;
use std::os::raw::c_char;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use spinfer_sys as sys;

use crate::error::{check, Error, Result, Status};
use crate::matrix::Matrix;

/// A Rust string as a C string; an interior NUL byte is an InvalidArgument error.
fn c_string(bytes: &[u8], what: &str) -> Result<CString> {
    CString::new(bytes).map_err(|_| {
        Error::rust(
            Status::InvalidArgument,
            format!("{} contains a NUL byte", what),
        )
    })
}

fn c_path(path: &Path) -> Result<CString> {
    c_string(path.as_os_str().as_bytes(), "path")
}

/// Saves host matrices to one safetensors file, each under its name (tensors
/// NAME.values, NAME.bitmaps, NAME.group_offsets). The file is written to a
/// temporary name and renamed, so a failure leaves no partial file.
pub fn save<P: AsRef<Path>>(path: P, matrices: &[(&str, &Matrix)]) -> Result<()> {
    let path = c_path(path.as_ref())?;
    let names = matrices
        .iter()
        .map(|(name, _)| c_string(name.as_bytes(), "matrix name"))
        .collect::<Result<Vec<_>>>()?;
    let name_ptrs: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
    let matrix_ptrs: Vec<*const sys::spinfer_matrix_t> =
        matrices.iter().map(|(_, m)| m.as_ptr()).collect();
    // SAFETY: both arrays hold `matrices.len()` live pointers for the whole call.
    check(unsafe {
        sys::spinfer_save(
            path.as_ptr(),
            matrix_ptrs.as_ptr(),
            name_ptrs.as_ptr(),
            matrices.len(),
        )
    })
}

/// Loads the matrix called `name` from a safetensors file into a new host matrix,
/// validating every field. `None` takes the only matrix of a one-matrix file.
pub fn load<P: AsRef<Path>>(path: P, name: Option<&str>) -> Result<Matrix> {
    let path = c_path(path.as_ref())?;
    let name = name
        .map(|n| c_string(n.as_bytes(), "matrix name"))
        .transpose()?;
    let mut out = ptr::null_mut();
    // SAFETY: valid C strings (or NULL name) and out pointer.
    check(unsafe {
        sys::spinfer_load(
            &mut out,
            path.as_ptr(),
            name.as_ref().map_or(ptr::null(), |n| n.as_ptr()),
        )
    })?;
    // SAFETY: success gives a new handle we now own.
    unsafe { Matrix::from_raw(out) }
}

/// Number of spinfer matrices in a safetensors file.
pub fn matrix_count<P: AsRef<Path>>(path: P) -> Result<usize> {
    let path = c_path(path.as_ref())?;
    let mut count = 0usize;
    // SAFETY: valid C string and out pointer.
    check(unsafe { sys::spinfer_file_matrix_count(path.as_ptr(), &mut count) })?;
    Ok(count)
}

/// Names of the spinfer matrices in a safetensors file, sorted.
pub fn matrix_names<P: AsRef<Path>>(path: P) -> Result<Vec<String>> {
    let count = matrix_count(path.as_ref())?;
    let path = c_path(path.as_ref())?;
    (0..count).map(|index| matrix_name(&path, index)).collect()
}

fn matrix_name(path: &CString, index: usize) -> Result<String> {
    // Try a buffer that fits any sane name; if the library says it needs more
    // (INVALID_ARGUMENT with `required` set), retry once with exactly that.
    let mut buffer = vec![0u8; 256];
    loop {
        let mut required = 0usize;
        // SAFETY: `buffer` holds `buffer.len()` writable bytes.
        let status = unsafe {
            sys::spinfer_file_matrix_name(
                path.as_ptr(),
                index,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut required,
            )
        };
        if status != sys::SPINFER_STATUS_SUCCESS && required > buffer.len() {
            buffer.resize(required, 0);
            continue;
        }
        check(status)?;
        break;
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    buffer.truncate(end);
    String::from_utf8(buffer)
        .map_err(|_| Error::rust(Status::CorruptData, "matrix name in file is not UTF-8"))
}

impl Matrix {
    /// Loads a matrix from a safetensors file; see [`load`].
    pub fn load<P: AsRef<Path>>(path: P, name: Option<&str>) -> Result<Matrix> {
        load(path, name)
    }

    /// Saves this one matrix to a safetensors file under `name`; see [`save`].
    pub fn save<P: AsRef<Path>>(&self, path: P, name: &str) -> Result<()> {
        save(path, &[(name, self)])
    }
}
