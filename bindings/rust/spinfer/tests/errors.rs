//! Bad input through the Rust binding: every case must come back as `Err(spinfer::Error)`
//! carrying the library's own status and message (or, for what only Rust can see, a
//! Rust-made message), never a crash. Use after close is a compile error, tested by
//! the `compile_fail` doc tests on `Matrix` and `Context`.
mod common;

use std::ffi::CStr;
use std::os::raw::c_void;
use std::ptr;

use spinfer::{sys, Backend, Context, DType, Matrix, Status};

const M: usize = 24;
const K: usize = 40;

fn matrix() -> Matrix {
    common::pattern_matrix(M, K)
}

/// `spinfer_spmm` through the raw API: f32 `x` ([n, ldx]) times `w`, no bias, into
/// `y` ([n, M], leading dimension M).
///
/// # Safety
/// `ctx` and `x` must be NULL (which the library refuses) or live; `x` must span
/// `[n, ldx]` and `y` `[n, M]` unless the library refuses those sizes.
unsafe fn raw_spmm(
    ctx: *mut sys::spinfer_context_t,
    w: &Matrix,
    x: *const c_void,
    n: usize,
    ldx: usize,
    y: &mut [f32],
) -> sys::spinfer_status_t {
    sys::spinfer_spmm(
        ctx,
        w.as_ptr(),
        x,
        n as i64,
        ldx as i64,
        ptr::null(),
        y.as_mut_ptr().cast(),
        M as i64,
        sys::SPINFER_DTYPE_F32,
        ptr::null_mut(),
    )
}

/// The message the C API leaves for the last failure on this thread.
fn c_message() -> String {
    unsafe { CStr::from_ptr(sys::spinfer_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

fn assert_library_error(err: &spinfer::Error, status: Status) {
    assert_eq!(err.status(), status, "{}", err);
    assert!(err.is_from_library(), "{}", err);
    assert!(
        !err.message().is_empty(),
        "library gave no message for {:?}",
        status
    );
    // Display shows the message and the C name of the status.
    let shown = err.to_string();
    assert!(
        shown.contains(err.message()) && shown.contains("SPINFER_STATUS_"),
        "{}",
        shown
    );
}

#[test]
fn leading_dimension_smaller_than_k_is_a_shape_error_with_the_library_message() {
    let (w, ctx) = (matrix(), Context::host().unwrap());
    let n = 2;
    let x = vec![1.0f32; n * K];
    let mut y = vec![f32::NAN; n * M];
    let err = ctx
        .spmm_strided(&w, &x, n, K - 1, None, &mut y, M, None)
        .unwrap_err();
    assert_library_error(&err, Status::ShapeMismatch);

    // The very same call through the raw C API leaves the very same message.
    let status = unsafe { raw_spmm(ctx.as_ptr(), &w, x.as_ptr().cast(), n, K - 1, &mut y) };
    assert_eq!(status, sys::SPINFER_STATUS_SHAPE_MISMATCH);
    assert_eq!(c_message(), err.message());
    assert!(y.iter().all(|v| v.is_nan()), "a rejected call wrote y");

    let err = ctx
        .spmm_strided(&w, &x, n, K, None, &mut y, M - 1, None)
        .unwrap_err();
    assert_library_error(&err, Status::ShapeMismatch);
}

#[test]
fn encode_with_leading_dimension_smaller_than_cols_is_rejected_by_the_library() {
    let dense = vec![1.0f32; M * K];
    let err = Matrix::encode_strided(&dense, M, K, K - 1, DType::F16).unwrap_err();
    assert_library_error(&err, Status::ShapeMismatch);
}

#[test]
fn wrong_dtype_is_rejected_by_the_library() {
    // Non-zeros are stored as F16 or BF16 only.
    let dense = vec![1.0f32; 16];
    let err = Matrix::encode(&dense, 4, 4, DType::F32).unwrap_err();
    assert_library_error(&err, Status::UnsupportedDtype);

    // An out-of-range raw dtype through the sys layer.
    let mut out = ptr::null_mut();
    let status = unsafe {
        sys::spinfer_matrix_encode(
            &mut out,
            dense.as_ptr().cast(),
            77,
            4,
            4,
            4,
            sys::SPINFER_DTYPE_F16,
        )
    };
    let err = spinfer::check(status).unwrap_err();
    assert!(
        matches!(
            err.status(),
            Status::UnsupportedDtype | Status::InvalidArgument
        ),
        "{}",
        err
    );
    assert!(err.is_from_library() && !err.message().is_empty());
    assert!(out.is_null(), "failed call left an output handle");
}

#[test]
fn null_handles_through_the_raw_layer_become_errors() {
    // Safe Rust cannot make a NULL handle, so go through `sys` and `check`.
    let mut info: sys::spinfer_matrix_info_t = unsafe { std::mem::zeroed() };
    info.struct_size = std::mem::size_of::<sys::spinfer_matrix_info_t>();
    let err = spinfer::check(unsafe { sys::spinfer_matrix_get_info(ptr::null(), &mut info) })
        .unwrap_err();
    assert_library_error(&err, Status::InvalidArgument);

    let (w, ctx) = (matrix(), Context::host().unwrap());
    let x = [1.0f32; K];
    let mut y = [0.0f32; M];
    let status = unsafe { raw_spmm(ptr::null_mut(), &w, x.as_ptr().cast(), 1, K, &mut y) };
    assert_library_error(
        &spinfer::check(status).unwrap_err(),
        Status::InvalidArgument,
    );
    let status = unsafe { raw_spmm(ctx.as_ptr(), &w, ptr::null(), 1, K, &mut y) };
    assert_library_error(
        &spinfer::check(status).unwrap_err(),
        Status::InvalidArgument,
    );
    let err = spinfer::check(unsafe {
        sys::spinfer_matrix_encode(
            ptr::null_mut(),
            x.as_ptr().cast(),
            sys::SPINFER_DTYPE_F32,
            1,
            1,
            1,
            sys::SPINFER_DTYPE_F16,
        )
    })
    .unwrap_err();
    assert_library_error(&err, Status::InvalidArgument);
    // Destroy accepts NULL.
    spinfer::check(unsafe { sys::spinfer_matrix_destroy(ptr::null_mut()) }).unwrap();
    spinfer::check(unsafe { sys::spinfer_context_destroy(ptr::null_mut()) }).unwrap();
}

#[test]
fn slices_shorter_than_their_shape_are_caught_in_rust() {
    let (w, ctx) = (matrix(), Context::host().unwrap());
    let n = 3;
    let x = vec![1.0f32; n * K];
    let mut y = vec![f32::NAN; n * M];
    let short_x = &x[..n * K - 1];
    let err = ctx.spmm(&w, short_x, n, None, &mut y).unwrap_err();
    assert_eq!(err.status(), Status::ShapeMismatch);
    assert!(
        !err.is_from_library() && err.message().contains("x has"),
        "{}",
        err
    );
    let err = ctx.spmm(&w, &x, n, None, &mut y[..n * M - 1]).unwrap_err();
    assert!(
        !err.is_from_library() && err.message().contains("y has"),
        "{}",
        err
    );
    let bias = vec![0.5f32; M - 1];
    let err = ctx.spmm(&w, &x, n, Some(&bias), &mut y).unwrap_err();
    assert!(
        !err.is_from_library() && err.message().contains("bias"),
        "{}",
        err
    );
    assert!(y.iter().all(|v| v.is_nan()), "a rejected call wrote y");

    let err = Matrix::encode(&[1.0f32; 5], 2, 3, DType::F16).unwrap_err();
    assert_eq!(err.status(), Status::ShapeMismatch);
    assert!(!err.is_from_library());
    let mut out = vec![0.0f32; M * K - 1];
    let err = w.decode_into(&mut out, K).unwrap_err();
    assert_eq!(err.status(), Status::ShapeMismatch);
}

#[test]
fn device_calls_on_the_host_are_refused() {
    let (w, ctx) = (matrix(), Context::host().unwrap());
    assert_eq!(ctx.backend().unwrap(), Backend::Host);
    // Upload needs a CUDA context.
    let err = ctx.upload(&w).unwrap_err();
    assert!(
        err.is_from_library() && !err.message().is_empty(),
        "{}",
        err
    );
    // Device pointers with a host matrix would be read as host memory: refused first.
    let err = unsafe {
        ctx.spmm_device(
            &w,
            ptr::null(),
            1,
            K,
            ptr::null(),
            ptr::null_mut(),
            M,
            DType::F16,
            None,
            ptr::null_mut(),
        )
    }
    .unwrap_err();
    assert_eq!(err.status(), Status::WrongLocation);
}

#[test]
fn cuda_context_without_a_usable_gpu_is_an_error() {
    match Context::new(Backend::Cuda) {
        Ok(ctx) => assert_eq!(ctx.backend().unwrap(), Backend::Cuda), // a GPU is present
        Err(err) => {
            let expected = if spinfer::has_cuda() {
                Status::NoDevice
            } else {
                Status::NotSupported
            };
            assert_library_error(&err, expected);
        }
    }
    // Auto falls back to the host when CUDA cannot be used.
    let ctx = Context::new(Backend::Auto).unwrap();
    let backend = ctx.backend().unwrap();
    assert!(
        backend == Backend::Host || spinfer::has_cuda(),
        "{:?}",
        backend
    );
    ctx.close().unwrap();
}

#[test]
fn versions_agree_with_the_header() {
    let v = format!(
        "{}.{}.{}",
        sys::SPINFER_VERSION_MAJOR,
        sys::SPINFER_VERSION_MINOR,
        sys::SPINFER_VERSION_PATCH
    );
    assert_eq!(spinfer::version(), v);
    assert_eq!(
        spinfer::version_number(),
        sys::SPINFER_VERSION_MAJOR * 10000
            + sys::SPINFER_VERSION_MINOR * 100
            + sys::SPINFER_VERSION_PATCH
    );
    assert_eq!(Status::CorruptData.name(), "SPINFER_STATUS_CORRUPT_DATA");
    assert_eq!(Status::from_raw(sys::SPINFER_STATUS_SUCCESS), None);
    assert_eq!(Status::from_raw(1000), Some(Status::Unknown(1000)));
}
