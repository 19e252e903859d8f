//! Bad input to the section 7 wrappers: what only Rust can see (a slice shorter than
//! the C API will read, mixed dtypes for one dtype argument, device calls on the host)
//! is an `Err` made in Rust before any C call; everything else comes back with the
//! library's status and message. Never a crash, and outputs of refused calls untouched.
//! Lifetime and thread rules are compile_fail doc tests on Linear, KvCache and Model.
mod common;

use std::ptr;

use common::pattern_matrix as matrix;
use spinfer::{
    Activation, Arch, Attention, AttentionConfig, AttentionWeights, Context, DType, DecoderConfig,
    DecoderLayer, DecoderWeights, HostArray, KvCache, KvCacheConfig, Linear, LinearConfig, Mlp,
    MlpConfig, MlpKind, MlpWeights, Status, F16,
};

fn rust_error(err: &spinfer::Error, status: Status, mentions: &str) {
    assert_eq!(err.status(), status, "{}", err);
    assert!(
        !err.is_from_library(),
        "expected a Rust-side error: {}",
        err
    );
    assert!(err.message().contains(mentions), "{}", err);
}

fn library_error(err: &spinfer::Error, status: Status) {
    assert_eq!(err.status(), status, "{}", err);
    assert!(
        err.is_from_library() && !err.message().is_empty(),
        "{}",
        err
    );
}

#[test]
fn linear_slices_shorter_than_their_shapes_are_caught_in_rust() {
    let (m, k, n) = (24, 40, 3);
    let ctx = Context::host().unwrap();
    let w = matrix(m, k);
    let err = Linear::new(
        &ctx,
        &w,
        Some(HostArray::F32(&[0.5; 23])),
        &LinearConfig::default(),
    )
    .unwrap_err();
    rust_error(&err, Status::ShapeMismatch, "bias");

    let mut layer = Linear::new(&ctx, &w, None, &LinearConfig::default()).unwrap();
    let x = vec![1.0f32; n * k];
    let residual = vec![1.0f32; n * m];
    let mut y = vec![f32::NAN; n * m];
    let err = layer.forward(&x[..n * k - 1], n, None, &mut y).unwrap_err();
    rust_error(&err, Status::ShapeMismatch, "x has");
    let err = layer.forward(&x, n, None, &mut y[..n * m - 1]).unwrap_err();
    rust_error(&err, Status::ShapeMismatch, "y has");
    let err = layer
        .forward(&x, n, Some(&residual[..n * m - 1]), &mut y)
        .unwrap_err();
    rust_error(&err, Status::ShapeMismatch, "residual has");
    let err = layer.forward(&x, usize::MAX, None, &mut y).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument, "{}", err);
    assert!(y.iter().all(|v| v.is_nan()), "a refused call wrote y");
    // n = 0 is a no-op.
    layer.forward::<f32>(&[], 0, None, &mut []).unwrap();
}

#[test]
fn device_forwards_on_a_host_context_are_refused() {
    let ctx = Context::host().unwrap();
    let w = matrix(8, 8);
    let mut layer = Linear::new(&ctx, &w, None, &LinearConfig::default()).unwrap();
    let err = unsafe {
        layer.forward_device(
            ptr::null(),
            1,
            ptr::null(),
            ptr::null_mut(),
            DType::F16,
            ptr::null_mut(),
        )
    }
    .unwrap_err();
    rust_error(&err, Status::WrongLocation, "CUDA context");
}

#[test]
fn mlp_errors() {
    let ctx = Context::host().unwrap();
    let (up, down) = (matrix(16, 8), matrix(8, 16));
    let plain = MlpConfig {
        kind: MlpKind::Plain,
        activation: Activation::Relu,
        max_tokens: 4,
        ..MlpConfig::default()
    };
    // Biases of two dtypes for the one bias_dtype of the C call.
    let up_bias = vec![0.0f32; 16];
    let down_bias = vec![F16::from_f32(0.0); 8];
    let weights = MlpWeights {
        up_bias: Some((&up_bias).into()),
        down_bias: Some((&down_bias).into()),
        ..MlpWeights::plain(&up, &down)
    };
    let err = Mlp::new(&ctx, weights, &plain).unwrap_err();
    rust_error(&err, Status::UnsupportedDtype, "down bias");
    let weights = MlpWeights {
        down_bias: Some(HostArray::F32(&up_bias[..7])),
        ..MlpWeights::plain(&up, &down)
    };
    rust_error(
        &Mlp::new(&ctx, weights, &plain).unwrap_err(),
        Status::ShapeMismatch,
        "down bias",
    );

    // down's columns (8) disagree with up's rows (16): the library names it.
    let err = Mlp::new(&ctx, MlpWeights::plain(&up, &up), &plain).unwrap_err();
    library_error(&err, Status::ShapeMismatch);
    // A gated config without a gate matrix.
    let err = Mlp::new(&ctx, MlpWeights::plain(&up, &down), &MlpConfig::default()).unwrap_err();
    assert!(err.is_from_library(), "{}", err);

    // More tokens than max_tokens.
    let mut mlp = Mlp::new(&ctx, MlpWeights::plain(&up, &down), &plain).unwrap();
    let x = vec![1.0f32; 5 * 8];
    let mut y = vec![f32::NAN; 5 * 8];
    library_error(
        &mlp.forward(&x, 5, None, &mut y).unwrap_err(),
        Status::InvalidArgument,
    );
    rust_error(
        &mlp.forward(&x, 4, None, &mut y[..31]).unwrap_err(),
        Status::ShapeMismatch,
        "y has",
    );
    mlp.forward(&x, 4, None, &mut y).unwrap();
    assert!(y[..32].iter().all(|v| v.is_finite()));
}

fn cache_config(layers: usize) -> KvCacheConfig {
    KvCacheConfig {
        num_layers: layers,
        num_kv_heads: 2,
        head_dim: 8,
        num_blocks: 8,
        dtype: DType::F32,
        ..KvCacheConfig::default()
    }
}

#[test]
fn kv_cache_and_attention_errors() {
    let ctx = Context::host().unwrap();
    // A cache without its shape.
    let err = KvCache::new(&ctx, &KvCacheConfig::default()).unwrap_err();
    library_error(&err, Status::InvalidArgument);
    let mut cache = KvCache::new(&ctx, &cache_config(1)).unwrap();
    rust_error(
        &cache.begin_step(&[0, 1], &[1]).unwrap_err(),
        Status::ShapeMismatch,
        "seq_ids",
    );
    assert_eq!(cache.free_blocks().unwrap(), 8);

    let (q, kv) = (matrix(32, 32), matrix(16, 32));
    let config = AttentionConfig {
        num_heads: 4,
        num_kv_heads: 2,
        ..AttentionConfig::default()
    };
    // K rows that fit no head count.
    let odd = matrix(20, 32);
    let err = Attention::new(&ctx, AttentionWeights::new(&q, &odd, &odd, &q), &config).unwrap_err();
    library_error(&err, Status::ShapeMismatch);
    let short = vec![0.0f32; 15];
    let weights = AttentionWeights {
        k_bias: Some((&short).into()),
        ..AttentionWeights::new(&q, &kv, &kv, &q)
    };
    rust_error(
        &Attention::new(&ctx, weights, &config).unwrap_err(),
        Status::ShapeMismatch,
        "k bias",
    );

    let mut attention =
        Attention::new(&ctx, AttentionWeights::new(&q, &kv, &kv, &q), &config).unwrap();
    cache.begin_step(&[0], &[3]).unwrap();
    let x = vec![0.5f32; 3 * 32];
    let mut y = vec![f32::NAN; 3 * 32];
    // A layer index the cache does not have.
    let err = attention
        .forward(&mut cache, 1, &x, 3, None, &mut y)
        .unwrap_err();
    assert!(err.is_from_library(), "{}", err);
    // n that is not the step's token count.
    let err = attention
        .forward(&mut cache, 0, &x, 2, None, &mut y)
        .unwrap_err();
    assert!(err.is_from_library(), "{}", err);
    // A cache made on another context.
    let other = Context::host().unwrap();
    let mut foreign = KvCache::new(&other, &cache_config(1)).unwrap();
    foreign.begin_step(&[0], &[3]).unwrap();
    let err = attention
        .forward(&mut foreign, 0, &x, 3, None, &mut y)
        .unwrap_err();
    library_error(&err, Status::InvalidArgument);
    assert!(err.message().contains("context"), "{}", err);
    assert!(y.iter().all(|v| v.is_nan()), "a refused call wrote y");
    attention
        .forward(&mut cache, 0, &x, 3, None, &mut y)
        .unwrap();
    assert!(y.iter().all(|v| v.is_finite()));
}

#[test]
fn decoder_dense_arrays_are_checked_against_the_config() {
    let ctx = Context::host().unwrap();
    let (h, inter) = (32, 64);
    let (q, kv, gate, up, down) = (
        matrix(h, h),
        matrix(16, h),
        matrix(inter, h),
        matrix(inter, h),
        matrix(h, inter),
    );
    let norm = vec![1.0f32; h];
    let base = DecoderWeights {
        q_proj: Some(&q),
        k_proj: Some(&kv),
        v_proj: Some(&kv),
        o_proj: Some(&q),
        gate_proj: Some(&gate),
        up_proj: Some(&up),
        down_proj: Some(&down),
        attn_norm_weight: Some((&norm).into()),
        mlp_norm_weight: Some((&norm).into()),
        ..DecoderWeights::default()
    };
    let config = DecoderConfig {
        arch: Arch::Llama,
        hidden_size: h,
        intermediate_size: inter,
        num_heads: 4,
        num_kv_heads: 2,
        ..DecoderConfig::default()
    };
    DecoderLayer::new(&ctx, &base, &config)
        .unwrap()
        .close()
        .unwrap();

    let short = vec![1.0f32; h - 1];
    let weights = DecoderWeights {
        mlp_norm_weight: Some((&short).into()),
        ..base
    };
    rust_error(
        &DecoderLayer::new(&ctx, &weights, &config).unwrap_err(),
        Status::ShapeMismatch,
        "MLP norm weight",
    );
    // k/v biases are num_kv_heads * head_dim = 16 long, q 32.
    let sixteen = vec![0.0f32; 16];
    let weights = DecoderWeights {
        q_bias: Some((&sixteen).into()),
        ..base
    };
    rust_error(
        &DecoderLayer::new(&ctx, &weights, &config).unwrap_err(),
        Status::ShapeMismatch,
        "q bias",
    );
    let weights = DecoderWeights {
        k_bias: Some((&sixteen).into()),
        v_bias: Some((&sixteen).into()),
        ..base
    };
    DecoderLayer::new(&ctx, &weights, &config).unwrap();
    // Heads that do not divide the hidden size leave the bias length open.
    let odd_heads = DecoderConfig {
        num_heads: 5,
        num_kv_heads: 0,
        ..config
    };
    rust_error(
        &DecoderLayer::new(&ctx, &weights, &odd_heads).unwrap_err(),
        Status::InvalidArgument,
        "q/k/v biases",
    );
    library_error(
        &DecoderLayer::new(&ctx, &base, &odd_heads).unwrap_err(),
        Status::InvalidArgument,
    );
    // LLaMA needs gate_proj; OPT needs both norm biases: the library names them.
    let no_gate = DecoderWeights {
        gate_proj: None,
        ..base
    };
    let err = DecoderLayer::new(&ctx, &no_gate, &config).unwrap_err();
    library_error(&err, Status::InvalidArgument);
    assert!(err.message().contains("gate_proj"), "{}", err);
    let opt = DecoderConfig {
        arch: Arch::Opt,
        num_kv_heads: 0,
        ..config
    };
    let q_only = DecoderWeights {
        k_proj: Some(&q),
        v_proj: Some(&q),
        ..no_gate
    };
    library_error(
        &DecoderLayer::new(&ctx, &q_only, &opt).unwrap_err(),
        Status::InvalidArgument,
    );
    // A missing matrix.
    let no_q = DecoderWeights {
        q_proj: None,
        ..base
    };
    library_error(
        &DecoderLayer::new(&ctx, &no_q, &config).unwrap_err(),
        Status::InvalidArgument,
    );

    // Forward slices.
    let mut layer = DecoderLayer::new(&ctx, &base, &config).unwrap();
    let mut cache = KvCache::new(&ctx, &cache_config(1)).unwrap();
    cache.begin_step(&[0], &[2]).unwrap();
    let x = vec![0.25f32; 2 * h];
    let mut y = vec![f32::NAN; 2 * h];
    rust_error(
        &layer
            .forward(&mut cache, 0, &x[..2 * h - 1], 2, &mut y)
            .unwrap_err(),
        Status::ShapeMismatch,
        "x has",
    );
    let mut hidden = vec![0.25f32; 2 * h - 1];
    rust_error(
        &layer
            .forward_in_place(&mut cache, 0, &mut hidden, 2)
            .unwrap_err(),
        Status::ShapeMismatch,
        "hidden has",
    );
    assert!(y.iter().all(|v| v.is_nan()));
    layer.forward(&mut cache, 0, &x, 2, &mut y).unwrap();
    assert!(y.iter().all(|v| v.is_finite()));
}
