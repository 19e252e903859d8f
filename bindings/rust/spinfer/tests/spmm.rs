//! Host products through the safe API against an independent float64 reference, over
//! odd shapes, every dense dtype, both storage dtypes, strides, with and without bias.
mod common;

use common::{assert_close, reference, rel_err, stored, Rng};
use spinfer::{Bf16, Context, DType, Element, Matrix, SpmmOptions, F16};

/// Conversions the tests need between f32 and each element type.
trait TestElement: Element {
    fn from_f32(v: f32) -> Self;
    fn to_f64(self) -> f64;
    fn nan() -> Self;
}
impl TestElement for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn nan() -> Self {
        f32::NAN
    }
}
impl TestElement for F16 {
    fn from_f32(v: f32) -> Self {
        F16::from_f32(v)
    }
    fn to_f64(self) -> f64 {
        self.to_f32() as f64
    }
    fn nan() -> Self {
        F16(0x7e00)
    }
}
impl TestElement for Bf16 {
    fn from_f32(v: f32) -> Self {
        Bf16::from_f32(v)
    }
    fn to_f64(self) -> f64 {
        self.to_f32() as f64
    }
    fn nan() -> Self {
        Bf16(0x7fc0)
    }
}

/// One product with padded leading dimensions and poisoned outputs; returns rel err.
fn run_case<T: TestElement>(
    rng: &mut Rng,
    m: usize,
    k: usize,
    n: usize,
    storage: DType,
    with_bias: bool,
) -> f64 {
    let (ldx, ldy) = (k + 3, m + 5);
    let w = rng.sparse(m, k, 0.6);
    let matrix = Matrix::encode(&w, m, k, storage).unwrap();

    let x: Vec<T> = rng.dense(n * ldx).into_iter().map(T::from_f32).collect();
    let bias: Vec<T> = rng.dense(m).into_iter().map(T::from_f32).collect();
    let mut y = vec![T::nan(); n * ldy];

    let ctx = Context::host().unwrap();
    ctx.spmm_strided(
        &matrix,
        &x,
        n,
        ldx,
        if with_bias { Some(&bias) } else { None },
        &mut y,
        ldy,
        None,
    )
    .unwrap();

    let w64: Vec<f64> = w.iter().map(|&v| stored(v, storage)).collect();
    let x64: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
    let b64: Vec<f64> = bias.iter().map(|v| v.to_f64()).collect();
    let want = reference(
        &w64,
        m,
        k,
        &x64,
        n,
        ldx,
        if with_bias { Some(&b64) } else { None },
    );
    let got: Vec<f64> = (0..n)
        .flat_map(|r| (0..m).map(move |i| (r, i)))
        .map(|(r, i)| y[r * ldy + i].to_f64())
        .collect();
    // The padding between rows of y must be left untouched (still NaN).
    for r in 0..n {
        for i in m..ldy {
            assert!(
                y[r * ldy + i].to_f64().is_nan(),
                "padding y[{}][{}] was written",
                r,
                i
            );
        }
    }
    rel_err(&got, &want)
}

const SHAPES: [(usize, usize, usize); 5] = [
    (1, 1, 1),
    (17, 33, 3),
    (64, 64, 8),
    (96, 200, 5),
    (130, 77, 19),
];

/// run_case over every shape, each storage dtype of `storages`, with and without
/// bias, for activations of type T: each within relative error `tol`.
fn every_case_within<T: TestElement>(test: &str, storages: &[DType], tol: f64) {
    let mut rng = Rng::fresh(test);
    for &(m, k, n) in &SHAPES {
        for &storage in storages {
            for with_bias in [false, true] {
                let err = run_case::<T>(&mut rng, m, k, n, storage, with_bias);
                assert!(
                    err <= tol,
                    "m={} k={} n={} {:?} bias={}: rel err {}",
                    m,
                    k,
                    n,
                    storage,
                    with_bias,
                    err
                );
            }
        }
    }
}

#[test]
fn f32_io_matches_float64_reference() {
    every_case_within::<f32>("f32_io", &[DType::F16, DType::BF16], 1e-5);
}

#[test]
fn f16_io_within_fp16_tolerance() {
    every_case_within::<F16>("f16_io", &[DType::F16], 1e-3);
}

#[test]
fn bf16_io_within_bf16_tolerance() {
    every_case_within::<Bf16>("bf16_io", &[DType::BF16], 1e-2);
}

#[test]
fn zero_rows_of_x_is_a_no_op() {
    let mut rng = Rng::fresh("n0");
    let w = rng.sparse(8, 8, 0.5);
    let matrix = Matrix::encode(&w, 8, 8, DType::F16).unwrap();
    let mut y: Vec<f32> = Vec::new();
    Context::host()
        .unwrap()
        .spmm(&matrix, &[], 0, None, &mut y)
        .unwrap();
}

#[test]
fn expert_options_are_accepted_on_the_host() {
    // split_k / tile_n steer CUDA kernels; the host must give the same exact answer.
    let mut rng = Rng::fresh("options");
    let (m, k, n) = (40, 70, 4);
    let w = rng.sparse(m, k, 0.5);
    let matrix = Matrix::encode(&w, m, k, DType::F16).unwrap();
    let x = rng.dense(n * k);
    let ctx = Context::host().unwrap();
    let mut plain = vec![f32::NAN; n * m];
    ctx.spmm(&matrix, &x, n, None, &mut plain).unwrap();
    let mut tuned = vec![f32::NAN; n * m];
    let options = SpmmOptions {
        split_k: 2,
        tile_n: 16,
    };
    ctx.spmm_strided(&matrix, &x, n, k, None, &mut tuned, m, Some(&options))
        .unwrap();
    assert_eq!(plain, tuned);
}

#[test]
fn one_context_and_matrix_shared_by_threads() {
    // Context and Matrix are Sync: the C API allows concurrent host calls.
    let mut rng = Rng::fresh("threads");
    let (m, k, n) = (96, 200, 5);
    let w = rng.sparse(m, k, 0.7);
    let matrix = Matrix::encode(&w, m, k, DType::F16).unwrap();
    let ctx = Context::host().unwrap();
    let xs: Vec<Vec<f32>> = (0..4).map(|_| rng.dense(n * k)).collect();
    let w64: Vec<f64> = w.iter().map(|&v| stored(v, DType::F16)).collect();
    std::thread::scope(|s| {
        for x in &xs {
            let (ctx, matrix, w64) = (&ctx, &matrix, &w64);
            s.spawn(move || {
                for _ in 0..10 {
                    let mut y = vec![f32::NAN; n * m];
                    ctx.spmm(matrix, x, n, None, &mut y).unwrap();
                    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
                    let want = reference(w64, m, k, &x64, n, k, None);
                    assert_close(&y, &want, 1e-5, "threaded spmm");
                }
            });
        }
    });
}
