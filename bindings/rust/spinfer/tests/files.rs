//! Saving and loading safetensors files through the safe API.
mod common;

use common::{Rng, TempPath};
use spinfer::{DType, Matrix, Status, F16};

#[test]
fn several_matrices_round_trip_through_one_file() {
    let mut rng = Rng::fresh("files");
    let a_dense = rng.sparse(70, 33, 0.5);
    let b_dense = rng.sparse(8, 129, 0.8);
    let a = Matrix::encode(&a_dense, 70, 33, DType::F16).unwrap();
    let b = Matrix::encode(&b_dense, 8, 129, DType::BF16).unwrap();
    let path = TempPath::new("multi");
    spinfer::save(&path.0, &[("zeta", &a), ("alpha", &b)]).unwrap();

    assert_eq!(spinfer::matrix_count(&path.0).unwrap(), 2);
    assert_eq!(
        spinfer::matrix_names(&path.0).unwrap(),
        vec!["alpha".to_string(), "zeta".to_string()]
    );

    let a2 = Matrix::load(&path.0, Some("zeta")).unwrap();
    let b2 = spinfer::load(&path.0, Some("alpha")).unwrap();
    assert_eq!(a2.info().unwrap(), a.info().unwrap());
    assert_eq!(b2.info().unwrap(), b.info().unwrap());
    assert_eq!(a2.decode::<F16>().unwrap(), a.decode::<F16>().unwrap());
    assert_eq!(b2.decode::<f32>().unwrap(), b.decode::<f32>().unwrap());

    // None picks "the only matrix", which a two-matrix file does not have.
    let err = Matrix::load(&path.0, None).unwrap_err();
    assert!(
        err.is_from_library() && !err.message().is_empty(),
        "{}",
        err
    );
    // An unknown name.
    let err = Matrix::load(&path.0, Some("beta")).unwrap_err();
    assert_eq!(err.status(), Status::NotFound, "{}", err);
    assert!(err.is_from_library() && !err.message().is_empty());
}

#[test]
fn none_name_loads_the_only_matrix() {
    let mut rng = Rng::fresh("single");
    let dense = rng.sparse(16, 16, 0.5);
    let m = Matrix::encode(&dense, 16, 16, DType::F16).unwrap();
    let path = TempPath::new("single");
    m.save(&path.0, "only").unwrap();
    let back = Matrix::load(&path.0, None).unwrap();
    assert_eq!(back.decode::<F16>().unwrap(), m.decode::<F16>().unwrap());
}

#[test]
fn missing_and_garbage_files_give_library_errors() {
    let path = TempPath::new("missing");
    let err = Matrix::load(&path.0, Some("w")).unwrap_err();
    assert_eq!(err.status(), Status::IoError, "{}", err);
    assert!(err.is_from_library() && !err.message().is_empty());

    std::fs::write(
        &path.0,
        b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}",
    )
    .unwrap();
    let err = Matrix::load(&path.0, Some("w")).unwrap_err();
    assert_eq!(err.status(), Status::CorruptData, "{}", err);
    assert!(err.is_from_library() && !err.message().is_empty());

    // A truncated copy of a good file.
    let m = Matrix::encode(&[1.0f32; 64], 8, 8, DType::F16).unwrap();
    m.save(&path.0, "w").unwrap();
    let bytes = std::fs::read(&path.0).unwrap();
    std::fs::write(&path.0, &bytes[..bytes.len() - 5]).unwrap();
    let err = Matrix::load(&path.0, Some("w")).unwrap_err();
    assert!(
        matches!(err.status(), Status::CorruptData | Status::IoError),
        "{}",
        err
    );
    assert!(err.is_from_library() && !err.message().is_empty());
}

#[test]
fn bad_names_are_rejected() {
    let m = Matrix::encode(&[1.0f32; 4], 2, 2, DType::F16).unwrap();
    let path = TempPath::new("names");
    // Empty and duplicate names: the library says no, and leaves no file.
    let err = spinfer::save(&path.0, &[("", &m)]).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument, "{}", err);
    assert!(err.is_from_library() && !err.message().is_empty());
    let err = spinfer::save(&path.0, &[("w", &m), ("w", &m)]).unwrap_err();
    assert!(
        err.is_from_library() && !err.message().is_empty(),
        "{}",
        err
    );
    assert!(!path.0.exists(), "a failed save left a file");
    // A NUL byte cannot cross into C: Rust says no before calling.
    let err = spinfer::save(&path.0, &[("w\0x", &m)]).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument);
    assert!(!err.is_from_library());
    let err = Matrix::load("bad\0path", None).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument);
    assert!(!err.is_from_library());
}
