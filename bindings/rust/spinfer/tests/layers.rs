//! Section 7 layers through the safe API on a host context, against the float64
//! references of layer_reference/ (written from the definitions): Linear with bias,
//! every activation and a residual; OPT-style and LLaMA-style MLPs; the KV cache's
//! bookkeeping; attention and LLaMA / OPT decoder layers over a prefill and a decode
//! step of two sequences. Outputs are poisoned with NaN before every run.
mod common;
mod layer_reference;

use common::{assert_close, Rng};
use layer_reference as r;
use spinfer::{
    Activation, Arch, Attention, AttentionConfig, AttentionWeights, Bf16, Context, DType,
    DecoderConfig, DecoderLayer, DecoderWeights, HostArray, KvCache, KvCacheConfig, Linear,
    LinearConfig, Matrix, Mlp, MlpConfig, MlpKind, MlpWeights, Status, F16,
};

/// F32 activations with fp32 accumulation and intermediates (measured ~1e-7).
const F32_TOL: f64 = 1e-5;
/// bf16 activations: inputs and output rounded to bf16.
const BF16_TOL: f64 = 1e-2;
/// fp16 activations.
const F16_TOL: f64 = 1e-3;

const ACTIVATIONS: [Activation; 5] = [
    Activation::None,
    Activation::Relu,
    Activation::Gelu,
    Activation::GeluTanh,
    Activation::Silu,
];

#[test]
fn linear_with_bias_every_activation_and_residual() {
    let mut rng = Rng::fresh("linear_with_bias_every_activation_and_residual");
    let (m, k, n) = (70, 45, 3);
    let dense = rng.sparse(m, k, 0.5);
    let bias = rng.dense(m);
    let x = rng.dense(n * k);
    let residual = rng.dense(n * m);
    let ctx = Context::host().unwrap();
    let w = Matrix::encode(&dense, m, k, DType::F16).unwrap();
    let pre = r::linear(
        &r::widen(&x),
        n,
        &r::stored_all(&dense, DType::F16),
        m,
        k,
        Some(&r::widen(&bias)),
    );
    for act in ACTIVATIONS {
        let config = LinearConfig { activation: act };
        let mut layer = Linear::new(&ctx, &w, Some(HostArray::F32(&bias)), &config).unwrap();
        assert_eq!((layer.in_features(), layer.out_features()), (k, m));
        let mut y = vec![f32::NAN; n * m];
        layer.forward(&x, n, Some(&residual), &mut y).unwrap();
        let want = r::add(&r::apply(&pre, act), &r::widen(&residual));
        assert_close(&y, &want, F32_TOL, &format!("{:?} + residual", act));
        let mut y = vec![f32::NAN; n * m];
        layer.forward(&x, n, None, &mut y).unwrap();
        assert_close(&y, &r::apply(&pre, act), F32_TOL, &format!("{:?}", act));
        layer.close().unwrap();
    }
}

#[test]
fn linear_with_bf16_and_f16_activations() {
    let mut rng = Rng::fresh("linear_with_bf16_and_f16_activations");
    let (m, k, n) = (33, 64, 4);
    let dense = rng.sparse(m, k, 0.7);
    let ctx = Context::host().unwrap();

    // bf16 weights, activations and bias.
    let w = Matrix::encode(&dense, m, k, DType::BF16).unwrap();
    let x: Vec<Bf16> = rng.dense(n * k).into_iter().map(Bf16::from_f32).collect();
    let bias: Vec<Bf16> = rng.dense(m).into_iter().map(Bf16::from_f32).collect();
    let config = LinearConfig {
        activation: Activation::Relu,
    };
    let mut layer = Linear::new(&ctx, &w, Some(HostArray::from(&bias)), &config).unwrap();
    let mut y = vec![Bf16(0x7fc0); n * m];
    layer.forward(&x, n, None, &mut y).unwrap();
    let xd: Vec<f64> = x.iter().map(|v| v.to_f32() as f64).collect();
    let bd: Vec<f64> = bias.iter().map(|v| v.to_f32() as f64).collect();
    let want = r::apply(
        &r::linear(&xd, n, &r::stored_all(&dense, DType::BF16), m, k, Some(&bd)),
        Activation::Relu,
    );
    let got: Vec<f32> = y.iter().map(|v| v.to_f32()).collect();
    assert_close(&got, &want, BF16_TOL, "bf16 linear");

    // fp16 activations, no bias.
    let w = Matrix::encode(&dense, m, k, DType::F16).unwrap();
    let x: Vec<F16> = rng.dense(n * k).into_iter().map(F16::from_f32).collect();
    let mut layer = Linear::new(&ctx, &w, None, &LinearConfig::default()).unwrap();
    let mut y = vec![F16(0x7e00); n * m];
    layer.forward(&x, n, None, &mut y).unwrap();
    let xd: Vec<f64> = x.iter().map(|v| v.to_f32() as f64).collect();
    let want = r::linear(&xd, n, &r::stored_all(&dense, DType::F16), m, k, None);
    let got: Vec<f32> = y.iter().map(|v| v.to_f32()).collect();
    assert_close(&got, &want, F16_TOL, "f16 linear");
}

#[test]
fn plain_mlp_like_opt() {
    let mut rng = Rng::fresh("plain_mlp_like_opt");
    let (hidden, inter, n) = (48, 100, 5);
    let up = rng.sparse(inter, hidden, 0.5);
    let down = rng.sparse(hidden, inter, 0.5);
    let (up_bias, down_bias) = (rng.dense(inter), rng.dense(hidden));
    let x = rng.dense(n * hidden);
    let residual = rng.dense(n * hidden);
    let ctx = Context::host().unwrap();
    let wu = Matrix::encode(&up, inter, hidden, DType::F16).unwrap();
    let wd = Matrix::encode(&down, hidden, inter, DType::F16).unwrap();
    let weights = MlpWeights {
        up_bias: Some(HostArray::F32(&up_bias)),
        down_bias: Some(HostArray::F32(&down_bias)),
        ..MlpWeights::plain(&wu, &wd)
    };
    let config = MlpConfig {
        kind: MlpKind::Plain,
        activation: Activation::Relu,
        ..MlpConfig::default()
    };
    let mut mlp = Mlp::new(&ctx, weights, &config).unwrap();
    assert_eq!(mlp.hidden_size(), hidden);
    let mut y = vec![f32::NAN; n * hidden];
    mlp.forward(&x, n, Some(&residual), &mut y).unwrap();
    let want = r::mlp(
        &r::widen(&x),
        n,
        hidden,
        inter,
        None,
        &r::stored_all(&up, DType::F16),
        &r::stored_all(&down, DType::F16),
        Some(&r::widen(&up_bias)),
        Some(&r::widen(&down_bias)),
        Activation::Relu,
    );
    assert_close(&y, &r::add(&want, &r::widen(&residual)), F32_TOL, "OPT MLP");
}

#[test]
fn gated_mlp_like_llama_fused_and_not() {
    let mut rng = Rng::fresh("gated_mlp_like_llama_fused_and_not");
    let (hidden, inter, n) = (40, 128, 3); // inter a multiple of 64: gate/up can be joined
    let gate = rng.sparse(inter, hidden, 0.6);
    let up = rng.sparse(inter, hidden, 0.6);
    let down = rng.sparse(hidden, inter, 0.6);
    let x = rng.dense(n * hidden);
    let want = r::mlp(
        &r::widen(&x),
        n,
        hidden,
        inter,
        Some(&r::stored_all(&gate, DType::BF16)),
        &r::stored_all(&up, DType::BF16),
        &r::stored_all(&down, DType::BF16),
        None,
        None,
        Activation::Silu,
    );
    let ctx = Context::host().unwrap();
    let wg = Matrix::encode(&gate, inter, hidden, DType::BF16).unwrap();
    let wu = Matrix::encode(&up, inter, hidden, DType::BF16).unwrap();
    let wd = Matrix::encode(&down, hidden, inter, DType::BF16).unwrap();
    for fuse in [true, false] {
        let config = MlpConfig {
            fuse_gate_up: fuse,
            max_tokens: 8,
            ..MlpConfig::default()
        };
        let mut mlp = Mlp::new(&ctx, MlpWeights::gated(&wg, &wu, &wd), &config).unwrap();
        let mut y = vec![f32::NAN; n * hidden];
        mlp.forward(&x, n, None, &mut y).unwrap();
        assert_close(&y, &want, F32_TOL, &format!("LLaMA MLP, fused {}", fuse));
    }
}

const HIDDEN: usize = 32;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = 8;
const INTER: usize = 64;
const SEQS: [i32; 2] = [0, 2];
/// New tokens per sequence of SEQS: a prefill step, then one decode token each.
const STEPS: [[i32; 2]; 2] = [[3, 2], [1, 1]];

/// Random sparse attention projections: q [qd, HIDDEN], k and v [kd, HIDDEN],
/// o [HIDDEN, qd].
struct Projections {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    o: Vec<f32>,
    qd: usize,
    kd: usize,
}

impl Projections {
    fn random(rng: &mut Rng, qd: usize, kd: usize) -> Projections {
        Projections {
            q: rng.sparse(qd, HIDDEN, 0.5),
            k: rng.sparse(kd, HIDDEN, 0.5),
            v: rng.sparse(kd, HIDDEN, 0.5),
            o: rng.sparse(HIDDEN, qd, 0.5),
            qd,
            kd,
        }
    }

    /// q, k, v, o encoded with non-zeros stored as `storage`.
    fn encode(&self, storage: DType) -> [Matrix; 4] {
        let enc = |w: &[f32], rows, cols| Matrix::encode(w, rows, cols, storage).unwrap();
        [
            enc(&self.q, self.qd, HIDDEN),
            enc(&self.k, self.kd, HIDDEN),
            enc(&self.v, self.kd, HIDDEN),
            enc(&self.o, HIDDEN, self.qd),
        ]
    }

    /// The float64 attention over the projections as stored in `storage`.
    fn reference(
        &self,
        heads: usize,
        kv_heads: usize,
        storage: DType,
        q_bias: Option<&[f32]>,
        o_bias: Option<&[f32]>,
    ) -> r::AttentionRef {
        r::AttentionRef::new(
            HIDDEN,
            heads,
            kv_heads,
            r::stored_all(&self.q, storage),
            r::stored_all(&self.k, storage),
            r::stored_all(&self.v, storage),
            r::stored_all(&self.o, storage),
            q_bias.map(r::widen),
            o_bias.map(r::widen),
        )
    }
}

fn cache_config() -> KvCacheConfig {
    KvCacheConfig {
        num_layers: 2,
        num_kv_heads: KV_HEADS,
        head_dim: HEAD_DIM,
        block_size: 4,
        num_blocks: 8,
        max_sequences: 4,
        max_sequence_length: 64,
        dtype: DType::F32,
    }
}

#[test]
fn kv_cache_counts_tokens_and_blocks() {
    let ctx = Context::host().unwrap();
    let mut cache = KvCache::new(&ctx, &cache_config()).unwrap();
    assert_eq!(cache.free_blocks().unwrap(), 8);
    cache.begin_step(&[0, 2], &[5, 2]).unwrap(); // 2 blocks of 4, then 1
    assert_eq!(cache.sequence_length(0).unwrap(), 5);
    assert_eq!(cache.sequence_length(2).unwrap(), 2);
    assert_eq!(cache.sequence_length(1).unwrap(), 0);
    assert_eq!(cache.free_blocks().unwrap(), 5);
    let err = cache.begin_step(&[1], &[40]).unwrap_err(); // 10 blocks: more than the pool
    assert_eq!(err.status(), Status::OutOfMemory, "{}", err);
    assert!(err.is_from_library());
    assert_eq!(
        cache.sequence_length(1).unwrap(),
        0,
        "a refused step changed the cache"
    );
    assert_eq!(cache.free_blocks().unwrap(), 5);
    cache.release_sequence(0).unwrap();
    assert_eq!(cache.sequence_length(0).unwrap(), 0);
    assert_eq!(cache.free_blocks().unwrap(), 7);
    let err = cache.begin_step(&[0, 0], &[1, 1]).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument, "{}", err);
    assert!(err.is_from_library() && !err.message().is_empty());
    let err = cache.sequence_length(99).unwrap_err();
    assert!(err.is_from_library(), "{}", err);
    cache.close().unwrap();
}

#[test]
fn attention_with_rope_and_grouped_queries_over_two_steps() {
    let mut rng = Rng::fresh("attention_with_rope_and_grouped_queries_over_two_steps");
    let p = Projections::random(&mut rng, HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM);
    let (qb, ob) = (rng.dense(p.qd), rng.dense(HIDDEN));
    let st = DType::F16;
    let mut reference = p.reference(HEADS, KV_HEADS, st, Some(&qb), Some(&ob));
    let ctx = Context::host().unwrap();
    let mut cache = KvCache::new(&ctx, &cache_config()).unwrap();
    let [wq, wk, wv, wo] = p.encode(st);
    let weights = AttentionWeights {
        q_bias: Some(HostArray::F32(&qb)),
        o_bias: Some(HostArray::F32(&ob)),
        ..AttentionWeights::new(&wq, &wk, &wv, &wo)
    };
    let config = AttentionConfig {
        num_heads: HEADS,
        num_kv_heads: KV_HEADS,
        ..AttentionConfig::default()
    };
    let mut attention = Attention::new(&ctx, weights, &config).unwrap();
    assert_eq!(attention.hidden_size(), HIDDEN);
    for step in STEPS {
        let n = (step[0] + step[1]) as usize;
        let x = rng.dense(n * HIDDEN);
        let residual = rng.dense(n * HIDDEN);
        cache.begin_step(&SEQS, &step).unwrap();
        let mut y = vec![f32::NAN; n * HIDDEN];
        attention
            .forward(&mut cache, 1, &x, n, Some(&residual), &mut y)
            .unwrap();
        let want = r::add(
            &reference.forward(&r::widen(&x), &SEQS, &step),
            &r::widen(&residual),
        );
        assert_close(&y, &want, F32_TOL, &format!("attention step {:?}", step));
    }
    assert_eq!(cache.sequence_length(0).unwrap(), 4);
    assert_eq!(cache.sequence_length(2).unwrap(), 3);
}

#[test]
fn llama_decoder_layer_over_two_steps_out_of_place_and_in_place() {
    let mut rng = Rng::fresh("llama_decoder_layer_over_two_steps_out_of_place_and_in_place");
    let st = DType::BF16;
    let p = Projections::random(&mut rng, HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM);
    let gate = rng.sparse(INTER, HIDDEN, 0.5);
    let up = rng.sparse(INTER, HIDDEN, 0.5);
    let down = rng.sparse(HIDDEN, INTER, 0.5);
    let (attn_norm, mlp_norm) = (rng.dense(HIDDEN), rng.dense(HIDDEN));
    let eps = 1e-5;
    let ctx = Context::host().unwrap();
    let enc = |w: &[f32], rows, cols| Matrix::encode(w, rows, cols, st).unwrap();
    let [wq, wk, wv, wo] = p.encode(st);
    let (wg, wu, wd) = (
        enc(&gate, INTER, HIDDEN),
        enc(&up, INTER, HIDDEN),
        enc(&down, HIDDEN, INTER),
    );
    let weights = DecoderWeights {
        q_proj: Some(&wq),
        k_proj: Some(&wk),
        v_proj: Some(&wv),
        o_proj: Some(&wo),
        gate_proj: Some(&wg),
        up_proj: Some(&wu),
        down_proj: Some(&wd),
        attn_norm_weight: Some(HostArray::F32(&attn_norm)),
        mlp_norm_weight: Some(HostArray::F32(&mlp_norm)),
        ..DecoderWeights::default()
    };
    let config = DecoderConfig {
        arch: Arch::Llama,
        hidden_size: HIDDEN,
        intermediate_size: INTER,
        num_heads: HEADS,
        num_kv_heads: KV_HEADS,
        norm_eps: eps,
        ..DecoderConfig::default()
    };
    let mut reference = p.reference(HEADS, KV_HEADS, st, None, None);
    // Two layers over the same cache: layer 0 out of place, layer 1 (same weights,
    // its own cache layer) in place; both must match the reference.
    let mut layer = DecoderLayer::new(&ctx, &weights, &config).unwrap();
    let mut twin = DecoderLayer::new(&ctx, &weights, &config).unwrap();
    assert_eq!(layer.hidden_size(), HIDDEN);
    let mut cache = KvCache::new(&ctx, &cache_config()).unwrap();
    for step in STEPS {
        let n = (step[0] + step[1]) as usize;
        let x = rng.dense(n * HIDDEN);
        cache.begin_step(&SEQS, &step).unwrap();
        let mut y = vec![f32::NAN; n * HIDDEN];
        layer.forward(&mut cache, 0, &x, n, &mut y).unwrap();
        let mut in_place = x.clone();
        twin.forward_in_place(&mut cache, 1, &mut in_place, n)
            .unwrap();

        let xd = r::widen(&x);
        let h = r::add(
            &xd,
            &reference.forward(
                &r::rms_norm(&xd, n, HIDDEN, &r::widen(&attn_norm), eps),
                &SEQS,
                &step,
            ),
        );
        let want = r::add(
            &h,
            &r::mlp(
                &r::rms_norm(&h, n, HIDDEN, &r::widen(&mlp_norm), eps),
                n,
                HIDDEN,
                INTER,
                Some(&r::stored_all(&gate, st)),
                &r::stored_all(&up, st),
                &r::stored_all(&down, st),
                None,
                None,
                Activation::Silu,
            ),
        );
        assert_close(&y, &want, F32_TOL, &format!("LLaMA layer step {:?}", step));
        assert_close(
            &in_place,
            &want,
            F32_TOL,
            &format!("in place, step {:?}", step),
        );
    }
}

#[test]
fn opt_decoder_layer_with_layer_norms_and_biases() {
    let mut rng = Rng::fresh("opt_decoder_layer_with_layer_norms_and_biases");
    let (heads, st, eps) = (4, DType::F16, 1e-5);
    let p = Projections::random(&mut rng, HIDDEN, HIDDEN);
    let fc1 = rng.sparse(INTER, HIDDEN, 0.5);
    let fc2 = rng.sparse(HIDDEN, INTER, 0.5);
    let b: Vec<Vec<f32>> = (0..6).map(|_| rng.dense(HIDDEN)).collect(); // q k v o down, spare
    let up_bias = rng.dense(INTER);
    let norms: Vec<Vec<f32>> = (0..4).map(|_| rng.dense(HIDDEN)).collect();
    let ctx = Context::host().unwrap();
    let enc = |w: &[f32], rows, cols| Matrix::encode(w, rows, cols, st).unwrap();
    let [wq, wk, wv, wo] = p.encode(st);
    let (w1, w2) = (enc(&fc1, INTER, HIDDEN), enc(&fc2, HIDDEN, INTER));
    let weights = DecoderWeights {
        q_proj: Some(&wq),
        k_proj: Some(&wk),
        v_proj: Some(&wv),
        o_proj: Some(&wo),
        up_proj: Some(&w1),
        down_proj: Some(&w2),
        q_bias: Some((&b[0]).into()),
        k_bias: Some((&b[1]).into()),
        v_bias: Some((&b[2]).into()),
        o_bias: Some((&b[3]).into()),
        up_bias: Some((&up_bias).into()),
        down_bias: Some((&b[4]).into()),
        attn_norm_weight: Some((&norms[0]).into()),
        attn_norm_bias: Some((&norms[1]).into()),
        mlp_norm_weight: Some((&norms[2]).into()),
        mlp_norm_bias: Some((&norms[3]).into()),
        ..DecoderWeights::default()
    };
    let config = DecoderConfig {
        arch: Arch::Opt,
        hidden_size: HIDDEN,
        intermediate_size: INTER,
        num_heads: heads,
        norm_eps: eps,
        ..DecoderConfig::default()
    };
    let mut layer = DecoderLayer::new(&ctx, &weights, &config).unwrap();
    let mut reference = p.reference(heads, heads, st, Some(&b[0]), Some(&b[3]));
    reference.k_bias = Some(r::widen(&b[1]));
    reference.v_bias = Some(r::widen(&b[2]));
    reference.rope = false;
    let config = KvCacheConfig {
        num_layers: 1,
        num_kv_heads: heads,
        ..cache_config()
    };
    let mut cache = KvCache::new(&ctx, &config).unwrap();
    let wn: Vec<Vec<f64>> = norms.iter().map(|v| r::widen(v)).collect();
    for step in STEPS {
        let n = (step[0] + step[1]) as usize;
        let x = rng.dense(n * HIDDEN);
        cache.begin_step(&SEQS, &step).unwrap();
        let mut y = vec![f32::NAN; n * HIDDEN];
        layer.forward(&mut cache, 0, &x, n, &mut y).unwrap();
        let xd = r::widen(&x);
        let normed = r::layer_norm(&xd, n, HIDDEN, &wn[0], &wn[1], eps);
        let h = r::add(&xd, &reference.forward(&normed, &SEQS, &step));
        let want = r::add(
            &h,
            &r::mlp(
                &r::layer_norm(&h, n, HIDDEN, &wn[2], &wn[3], eps),
                n,
                HIDDEN,
                INTER,
                None,
                &r::stored_all(&fc1, st),
                &r::stored_all(&fc2, st),
                Some(&r::widen(&up_bias)),
                Some(&r::widen(&b[4])),
                Activation::Relu,
            ),
        );
        assert_close(&y, &want, F32_TOL, &format!("OPT layer step {:?}", step));
    }
}
