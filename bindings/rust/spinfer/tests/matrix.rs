//! Encoding, decoding, info and raw arrays, checked against an encoder written here
//! from docs/format.md alone (independent of the library's encoder).
mod common;

use common::Rng;
use spinfer::{Bf16, DType, Location, Matrix, Status, F16};

/// The TCA-BME arrays of a dense [m, k] matrix of 16-bit patterns (0 / 0x8000 = zero),
/// built straight from the rules of docs/format.md (version 1).
fn encode_by_the_book(bits: &[u16], m: usize, k: usize) -> (Vec<u16>, Vec<u64>, Vec<u64>) {
    let (gm, gk) = ((m + 63) / 64, (k + 63) / 64);
    let (mut values, mut bitmaps, mut offsets) = (Vec::new(), Vec::new(), vec![0u64]);
    for g in 0..gm * gk {
        let (g_row, g_col) = (g / gk * 64, g % gk * 64);
        for t in 0..16 {
            let (t_row, t_col) = (g_row + t / 4 * 16, g_col + t % 4 * 16);
            for b in 0..4 {
                // Column-major 2 x 2 BitmapTiles inside the TCTile.
                let (b_row, b_col) = (t_row + b % 2 * 8, t_col + b / 2 * 8);
                let mut word = 0u64;
                for bit in 0..64 {
                    let (r, c) = (b_row + bit / 8, b_col + bit % 8);
                    if r < m && c < k && bits[r * k + c] & 0x7fff != 0 {
                        word |= 1 << bit;
                        values.push(bits[r * k + c]);
                    }
                }
                bitmaps.push(word);
            }
        }
        while values.len() % 8 != 0 {
            values.push(0);
        }
        offsets.push(values.len() as u64);
    }
    (values, bitmaps, offsets)
}

#[test]
fn decode_gives_back_the_storage_rounding_of_the_input() {
    let mut rng = Rng::fresh("decode");
    for &(m, k) in &[(1, 1), (9, 130), (64, 64), (96, 200), (150, 70)] {
        let w = rng.sparse(m, k, 0.6);
        let f16 = Matrix::encode(&w, m, k, DType::F16).unwrap();
        let back: Vec<F16> = f16.decode().unwrap();
        let want: Vec<F16> = w.iter().map(|&v| F16::from_f32(v)).collect();
        assert_eq!(back, want, "F16 {}x{}", m, k);

        let bf16 = Matrix::encode(&w, m, k, DType::BF16).unwrap();
        let back: Vec<Bf16> = bf16.decode().unwrap();
        let want: Vec<Bf16> = w.iter().map(|&v| Bf16::from_f32(v)).collect();
        assert_eq!(back, want, "BF16 {}x{}", m, k);

        // Decoding to f32 is exact: the stored value, widened.
        let back32: Vec<f32> = bf16.decode().unwrap();
        let want32: Vec<f32> = w.iter().map(|&v| Bf16::from_f32(v).to_f32()).collect();
        assert_eq!(back32, want32);
    }
}

#[test]
fn info_reports_shape_nnz_and_sizes() {
    let mut rng = Rng::fresh("info");
    let (m, k) = (100, 150);
    let w = rng.sparse(m, k, 0.7);
    let nnz = w.iter().filter(|&&v| v != 0.0).count() as u64;
    let info = Matrix::encode(&w, m, k, DType::F16)
        .unwrap()
        .info()
        .unwrap();
    assert_eq!((info.rows, info.cols, info.nnz), (m, k, nnz));
    assert_eq!(info.dtype, DType::F16);
    assert_eq!(info.location, Location::Host);
    assert_eq!(info.device, -1);
    assert_eq!(info.format_version, spinfer::FORMAT_VERSION);
    assert!((info.sparsity - (1.0 - nnz as f64 / (m * k) as f64)).abs() < 1e-12);
    assert_eq!(info.dense_bytes, (m * k * 2) as u64);
    // 2 x 3 GroupTiles: 6 * 64 bitmaps, 7 offsets, values padded per group.
    let (values, bitmaps, offsets) = encode_by_the_book(
        &w.iter().map(|&v| F16::from_f32(v).0).collect::<Vec<_>>(),
        m,
        k,
    );
    assert_eq!(
        info.bytes,
        (values.len() * 2 + bitmaps.len() * 8 + offsets.len() * 8) as u64
    );
    assert!((info.compression_ratio - info.dense_bytes as f64 / info.bytes as f64).abs() < 1e-12);
}

#[test]
fn strided_encode_and_decode() {
    let mut rng = Rng::fresh("strided");
    let (m, k, ld) = (20, 30, 37);
    let padded = rng.sparse(m, ld, 0.5);
    let m1 = Matrix::encode_strided(&padded, m, k, ld, DType::F16).unwrap();
    let tight: Vec<f32> = (0..m * k).map(|e| padded[e / k * ld + e % k]).collect();
    let m2 = Matrix::encode(&tight, m, k, DType::F16).unwrap();
    assert_eq!(m1.decode::<F16>().unwrap(), m2.decode::<F16>().unwrap());
    let mut out = vec![f32::NAN; m * ld];
    m1.decode_into(&mut out, ld).unwrap();
    for r in 0..m {
        for c in 0..k {
            assert_eq!(out[r * ld + c], F16::from_f32(tight[r * k + c]).to_f32());
        }
    }
}

#[test]
fn arrays_built_from_the_format_spec_are_accepted_and_decode_right() {
    let mut rng = Rng::fresh("from_arrays");
    for &(m, k) in &[(1, 1), (70, 130), (64, 128)] {
        let w = rng.sparse(m, k, 0.6);
        let bits: Vec<u16> = w.iter().map(|&v| F16::from_f32(v).0).collect();
        let (values, bitmaps, offsets) = encode_by_the_book(&bits, m, k);
        let matrix = Matrix::from_arrays(m, k, DType::F16, 1, &values, &bitmaps, &offsets).unwrap();
        matrix.validate().unwrap();
        let back: Vec<F16> = matrix.decode().unwrap();
        assert_eq!(
            back.iter().map(|h| h.0).collect::<Vec<_>>(),
            bits,
            "{}x{}",
            m,
            k
        );
        let nnz = bits.iter().filter(|&&b| b & 0x7fff != 0).count() as u64;
        assert_eq!(matrix.info().unwrap().nnz, nnz);
    }
}

#[test]
fn broken_arrays_are_rejected_with_the_library_message() {
    let mut rng = Rng::fresh("corrupt");
    let (m, k) = (40, 90);
    let w = rng.sparse(m, k, 0.6);
    let bits: Vec<u16> = w.iter().map(|&v| F16::from_f32(v).0).collect();
    let (values, bitmaps, offsets) = encode_by_the_book(&bits, m, k);

    // A bitmap bit for an element outside the 40 x 90 matrix: GroupTile 0, TCTile 8
    // (rows 32-47, cols 0-15), BitmapTile 1 (rows 40-47, cols 0-7), bit 0 = row 40.
    let mut outside = bitmaps.clone();
    outside[8 * 4 + 1] |= 1; // global index (g * 16 + t) * 4 + b
    expect_corrupt(m, k, &values, &outside, &offsets, "padding bit");

    // Offsets that disagree with the popcounts.
    let mut bad_offsets = offsets.clone();
    *bad_offsets.last_mut().unwrap() += 8;
    expect_corrupt(m, k, &values, &bitmaps, &bad_offsets, "offsets");

    // A stored zero.
    let mut zero_value = values.clone();
    zero_value[0] = 0;
    expect_corrupt(m, k, &zero_value, &bitmaps, &offsets, "stored zero");

    // Wrong array length.
    let err =
        Matrix::from_arrays(m, k, DType::F16, 1, &values, &bitmaps[1..], &offsets).unwrap_err();
    assert!(
        err.is_from_library() && !err.message().is_empty(),
        "{}",
        err
    );

    // Unknown format version.
    let err = Matrix::from_arrays(m, k, DType::F16, 99, &values, &bitmaps, &offsets).unwrap_err();
    assert_eq!(err.status(), Status::UnsupportedVersion, "{}", err);
    assert!(err.is_from_library() && !err.message().is_empty());
}

fn expect_corrupt(
    m: usize,
    k: usize,
    values: &[u16],
    bitmaps: &[u64],
    offsets: &[u64],
    what: &str,
) {
    let err = Matrix::from_arrays(m, k, DType::F16, 1, values, bitmaps, offsets).expect_err(what);
    assert_eq!(err.status(), Status::CorruptData, "{}: {}", what, err);
    assert!(err.is_from_library(), "{}", what);
    assert!(!err.message().is_empty(), "{}: empty message", what);
}

#[test]
fn close_reports_success() {
    let m = Matrix::encode(&[1.0f32, 0.0, 0.0, 2.0], 2, 2, DType::F16).unwrap();
    m.close().unwrap();
}
