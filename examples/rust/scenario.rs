//! The cross-language scenario (examples/SCENARIO.md) through the safe Rust crate:
//! encode a fixed half-sparse matrix, save and reload it, multiply on the host and
//! compare with a float64 reference computed here.
//!
//! Run: cd bindings/rust && SPINFER_LIB_DIR=<build>/capi cargo run --example scenario
use std::process::ExitCode;

use spinfer::{Context, DType, Matrix};

const M: usize = 96;
const K: usize = 200;
const N: usize = 5;
/// sum(Y) that every language prints (exact: Y holds multiples of 1/32).
const CHECKSUM: f64 = -26.9375;

fn weight(i: usize, j: usize) -> f32 {
    if (i * 7 + j * 13) % 10 < 5 {
        (((i * 131 + j * 71) % 17) as f32 - 8.0) / 8.0
    } else {
        0.0
    }
}

fn input(n: usize, j: usize) -> f32 {
    (((n * 29 + j * 37) % 11) as f32 - 5.0) / 4.0
}

fn bias(i: usize) -> f32 {
    ((i % 7) as f32 - 3.0) / 2.0
}

fn run() -> spinfer::Result<f64> {
    // 1. W, row-major [M, K].
    let w: Vec<f32> = (0..M * K).map(|e| weight(e / K, e % K)).collect();

    // 2. Encode with F16 storage; the library must count the same non-zeros.
    let encoded = Matrix::encode(&w, M, K, DType::F16)?;
    let nnz = w.iter().filter(|&&v| v != 0.0).count() as u64;
    let info = encoded.info()?;
    assert_eq!(info.nnz, nnz, "library nnz differs from the count here");
    assert_eq!(nnz, 9036, "SCENARIO.md says W has 9036 non-zeros");

    // 3. Save as "w" to a temporary safetensors file and load it back.
    let path = std::env::temp_dir().join(format!(
        "spinfer-scenario-{}.safetensors",
        std::process::id()
    ));
    encoded.save(&path, "w")?;
    let loaded = Matrix::load(&path, Some("w"));
    let _ = std::fs::remove_file(&path);
    let loaded = loaded?;

    // 4.-5. X [N, K], bias [M]; Y = X * W^T + b in F32 on a host context.
    let x: Vec<f32> = (0..N * K).map(|e| input(e / K, e % K)).collect();
    let b: Vec<f32> = (0..M).map(bias).collect();
    let mut y = vec![f32::NAN; N * M]; // poisoned: an unwritten element fails below
    let ctx = Context::host()?;
    ctx.spmm(&loaded, &x, N, Some(&b), &mut y)?;

    // 6. float64 reference; fp32 accumulation is exact here, so compare exactly.
    for n in 0..N {
        for i in 0..M {
            let reference: f64 = (0..K)
                .map(|j| input(n, j) as f64 * weight(i, j) as f64)
                .sum::<f64>()
                + bias(i) as f64;
            let got = y[n * M + i];
            assert!(
                got as f64 == reference,
                "Y[{}][{}] = {}, reference {}",
                n,
                i,
                got,
                reference
            );
        }
    }
    let checksum: f64 = y.iter().map(|&v| v as f64).sum();
    assert!(
        checksum == CHECKSUM,
        "checksum {:.6}, SCENARIO.md says {:.6}",
        checksum,
        CHECKSUM
    );
    Ok(checksum)
}

fn main() -> ExitCode {
    match run() {
        Ok(checksum) => {
            println!(
                "spinfer {} rust scenario: nnz = 9036, Y == reference",
                spinfer::version()
            );
            println!("checksum = {:.6}", checksum);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("spinfer error: {}", e);
            ExitCode::FAILURE
        }
    }
}
