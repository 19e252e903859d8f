//! Helpers shared by the integration tests: a seeded PRNG, random sparse matrices,
//! a fixed test matrix, a float64 reference product, the relative error and its
//! assertion, and temporary paths.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use spinfer::{Bf16, DType, Matrix, F16};

/// xorshift64*: small, deterministic for a seed, good enough for test data.
pub struct Rng(u64);

impl Rng {
    /// A fresh seed every run (printed, so a failure can be replayed with SPINFER_TEST_SEED).
    pub fn fresh(test: &str) -> Rng {
        let seed = std::env::var("SPINFER_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("{}: SPINFER_TEST_SEED={}", test, seed);
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// True with probability p.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// A [rows, cols] row-major matrix with about `sparsity` of its entries zero and
    /// the others uniform in [-1, 1) (never zero).
    pub fn sparse(&mut self, rows: usize, cols: usize, sparsity: f64) -> Vec<f32> {
        (0..rows * cols)
            .map(|_| {
                if self.chance(sparsity) {
                    0.0
                } else {
                    let v = self.uniform();
                    if v == 0.0 {
                        0.5
                    } else {
                        v
                    }
                }
            })
            .collect()
    }

    pub fn dense(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.uniform()).collect()
    }
}

/// A deterministic [rows, cols] fp16 matrix, a third of it non-zero (small integers).
pub fn pattern_matrix(rows: usize, cols: usize) -> Matrix {
    let dense: Vec<f32> = (0..rows * cols)
        .map(|e| {
            if e % 3 == 0 {
                (e % 7) as f32 - 3.0
            } else {
                0.0
            }
        })
        .collect();
    Matrix::encode(&dense, rows, cols, DType::F16).unwrap()
}

/// What the library stores for `v` in `storage` (round to nearest even), as f64.
pub fn stored(v: f32, storage: DType) -> f64 {
    match storage {
        DType::F16 => F16::from_f32(v).to_f32() as f64,
        DType::BF16 => Bf16::from_f32(v).to_f32() as f64,
        DType::F32 => v as f64,
    }
}

/// Y = X * W^T + b in float64; x is [n, k] with leading dimension ldx, w is [m, k].
pub fn reference(
    w: &[f64],
    m: usize,
    k: usize,
    x: &[f64],
    n: usize,
    ldx: usize,
    bias: Option<&[f64]>,
) -> Vec<f64> {
    let mut y = vec![0.0; n * m];
    for r in 0..n {
        for i in 0..m {
            let mut acc = bias.map_or(0.0, |b| b[i]);
            for j in 0..k {
                acc += x[r * ldx + j] * w[i * k + j];
            }
            y[r * m + i] = acc;
        }
    }
    y
}

/// ||got - want|| / ||want|| (Euclidean norms); NaN or infinity in `got` gives infinity.
pub fn rel_err(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let mut diff = 0.0;
    let mut norm = 0.0;
    for (g, w) in got.iter().zip(want) {
        if !g.is_finite() {
            return f64::INFINITY;
        }
        diff += (g - w) * (g - w);
        norm += w * w;
    }
    if norm == 0.0 {
        // An all-zero reference (say a 1 x 1 W that came out zero): absolute error.
        return diff.sqrt();
    }
    (diff / norm).sqrt()
}

/// Asserts that `got` is within relative error `tol` of `want`.
pub fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    let got: Vec<f64> = got.iter().map(|&v| v as f64).collect();
    let err = rel_err(&got, want);
    assert!(err <= tol, "{}: rel err {} > {}", what, err, tol);
}

/// A unique path under the system temp dir; whatever is there when it is dropped (a
/// file or a directory) is removed.
pub struct TempPath(pub PathBuf);

impl TempPath {
    /// The path, with nothing made there yet.
    pub fn new(tag: &str) -> TempPath {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        TempPath(std::env::temp_dir().join(format!(
            "spinfer-rs-{}-{}-{}",
            tag,
            std::process::id(),
            nanos
        )))
    }

    /// A fresh empty directory.
    pub fn dir(tag: &str) -> TempPath {
        let dir = TempPath::new(tag);
        std::fs::create_dir_all(&dir.0).unwrap();
        dir
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = if self.0.is_dir() {
            std::fs::remove_dir_all(&self.0)
        } else {
            std::fs::remove_file(&self.0)
        };
    }
}
