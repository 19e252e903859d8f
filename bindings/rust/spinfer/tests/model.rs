//! A tiny random LLaMA-style model written from Rust (config.json, a safetensors file
//! of dense F32 tensors, spinfer matrices saved with `spinfer::save`), loaded with
//! `Model::load` and run on a host context: prefill and decode logits against a
//! float64 reference model, greedy generation against the arg-max of those steps.
mod common;
mod layer_reference;

use std::path::Path;

use common::{assert_close, Rng, TempPath};
use layer_reference as r;
use spinfer::{Activation, Arch, Context, DType, Matrix, Model, ModelConfig, Status, F16};

const VOCAB: usize = 40;
const HIDDEN: usize = 32;
const LAYERS: usize = 2;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const INTER: usize = 64;
const EPS: f64 = 1e-6;
/// Weights are fp16-exact by construction and the host keeps activations and the KV
/// cache in fp32 (measured logits errors ~1e-6).
const TOL: f64 = 1e-5;

/// Writes dense F32 tensors as safetensors: 8-byte little-endian header length, a
/// JSON header (dtype, shape, data_offsets), then the raw little-endian data.
fn write_dense_safetensors(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) {
    let mut header = String::from("{");
    let mut offset = 0usize;
    for (i, (name, shape, data)) in tensors.iter().enumerate() {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "{}", name);
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            "\"{}\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            name,
            dims.join(","),
            offset,
            offset + 4 * data.len()
        ));
        offset += 4 * data.len();
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    for (_, _, data) in tensors {
        for v in data {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}

/// The float64 twin of the model, with its own KV caches.
struct ReferenceModel {
    embed: Vec<f64>,
    final_norm: Vec<f64>,
    lm_head: Vec<f64>,
    attn_norm: Vec<Vec<f64>>,
    mlp_norm: Vec<Vec<f64>>,
    gate: Vec<Vec<f64>>,
    up: Vec<Vec<f64>>,
    down: Vec<Vec<f64>>,
    attention: Vec<r::AttentionRef>,
}

impl ReferenceModel {
    /// Logits [n, VOCAB] of one step's tokens.
    fn forward(&mut self, tokens: &[i32], seq_ids: &[i32], counts: &[i32]) -> Vec<f64> {
        let n = tokens.len();
        let mut h: Vec<f64> = tokens
            .iter()
            .flat_map(|&t| self.embed[t as usize * HIDDEN..(t as usize + 1) * HIDDEN].to_vec())
            .collect();
        for l in 0..LAYERS {
            let a = self.attention[l].forward(
                &r::rms_norm(&h, n, HIDDEN, &self.attn_norm[l], EPS),
                seq_ids,
                counts,
            );
            h = r::add(&h, &a);
            let m = r::mlp(
                &r::rms_norm(&h, n, HIDDEN, &self.mlp_norm[l], EPS),
                n,
                HIDDEN,
                INTER,
                Some(&self.gate[l]),
                &self.up[l],
                &self.down[l],
                None,
                None,
                Activation::Silu,
            );
            h = r::add(&h, &m);
        }
        r::linear(
            &r::rms_norm(&h, n, HIDDEN, &self.final_norm, EPS),
            n,
            &self.lm_head,
            VOCAB,
            HIDDEN,
            None,
        )
    }
}

/// A random sparse matrix made fp16-exact.
fn fp16_sparse(rng: &mut Rng, rows: usize, cols: usize) -> Vec<f32> {
    rng.sparse(rows, cols, 0.5)
        .into_iter()
        .map(|v| F16::from_f32(v).to_f32())
        .collect()
}

/// Sparse matrices to save: name, rows, cols, values.
type SparseTensors = Vec<(String, usize, usize, Vec<f32>)>;

/// Adds a random fp16-exact [rows, cols] matrix called `name` to `sparse`; returns it
/// widened for the reference.
fn put_sparse(
    sparse: &mut SparseTensors,
    rng: &mut Rng,
    name: String,
    rows: usize,
    cols: usize,
) -> Vec<f64> {
    let w = fp16_sparse(rng, rows, cols);
    let widened = r::widen(&w);
    sparse.push((name, rows, cols, w));
    widened
}

/// Writes the model directory; returns its float64 twin.
fn write_model(dir: &Path, rng: &mut Rng) -> ReferenceModel {
    let head_dim = HIDDEN / HEADS;
    let (qd, kd) = (HEADS * head_dim, KV_HEADS * head_dim);
    let config = format!(
        "{{\"model_type\":\"llama\",\"vocab_size\":{},\"hidden_size\":{},\"num_hidden_layers\":{},\
         \"num_attention_heads\":{},\"num_key_value_heads\":{},\"intermediate_size\":{},\
         \"max_position_embeddings\":64,\"rms_norm_eps\":{:e},\"torch_dtype\":\"float16\",\
         \"tie_word_embeddings\":false,\"hidden_act\":\"silu\"}}",
        VOCAB, HIDDEN, LAYERS, HEADS, KV_HEADS, INTER, EPS
    );
    std::fs::write(dir.join("config.json"), config).unwrap();

    let mut dense: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    let mut sparse: SparseTensors = Vec::new();
    let embed: Vec<f32> = rng
        .dense(VOCAB * HIDDEN)
        .into_iter()
        .map(|v| F16::from_f32(v).to_f32())
        .collect();
    let final_norm = rng.dense(HIDDEN);
    dense.push((
        "model.embed_tokens.weight".into(),
        vec![VOCAB, HIDDEN],
        embed.clone(),
    ));
    dense.push(("model.norm.weight".into(), vec![HIDDEN], final_norm.clone()));
    let mut reference = ReferenceModel {
        embed: r::widen(&embed),
        final_norm: r::widen(&final_norm),
        lm_head: Vec::new(),
        attn_norm: Vec::new(),
        mlp_norm: Vec::new(),
        gate: Vec::new(),
        up: Vec::new(),
        down: Vec::new(),
        attention: Vec::new(),
    };
    for l in 0..LAYERS {
        let p = format!("model.layers.{}.", l);
        let (an, mn) = (rng.dense(HIDDEN), rng.dense(HIDDEN));
        dense.push((
            format!("{}input_layernorm.weight", p),
            vec![HIDDEN],
            an.clone(),
        ));
        dense.push((
            format!("{}post_attention_layernorm.weight", p),
            vec![HIDDEN],
            mn.clone(),
        ));
        reference.attn_norm.push(r::widen(&an));
        reference.mlp_norm.push(r::widen(&mn));
        let [q, k, v, o, gate, up, down] = [
            ("self_attn.q_proj", qd, HIDDEN),
            ("self_attn.k_proj", kd, HIDDEN),
            ("self_attn.v_proj", kd, HIDDEN),
            ("self_attn.o_proj", HIDDEN, qd),
            ("mlp.gate_proj", INTER, HIDDEN),
            ("mlp.up_proj", INTER, HIDDEN),
            ("mlp.down_proj", HIDDEN, INTER),
        ]
        .map(|(name, rows, cols)| {
            put_sparse(
                &mut sparse,
                rng,
                format!("{}{}.weight", p, name),
                rows,
                cols,
            )
        });
        reference.gate.push(gate);
        reference.up.push(up);
        reference.down.push(down);
        reference.attention.push(r::AttentionRef::new(
            HIDDEN, HEADS, KV_HEADS, q, k, v, o, None, None,
        ));
    }
    reference.lm_head = put_sparse(&mut sparse, rng, "lm_head.weight".into(), VOCAB, HIDDEN);
    write_dense_safetensors(&dir.join("dense.safetensors"), &dense);

    let matrices: Vec<(String, Matrix)> = sparse
        .iter()
        .map(|(name, rows, cols, w)| {
            (
                name.clone(),
                Matrix::encode(w, *rows, *cols, DType::F16).unwrap(),
            )
        })
        .collect();
    let named: Vec<(&str, &Matrix)> = matrices.iter().map(|(n, m)| (n.as_str(), m)).collect();
    spinfer::save(dir.join("matrices.safetensors"), &named).unwrap();
    reference
}

fn argmax(logits: &[f32]) -> i32 {
    let mut best = 0;
    for i in 1..logits.len() {
        if logits[i] > logits[best] {
            best = i;
        }
    }
    best as i32
}

fn assert_logits(got: &[f32], want: &[f64], what: &str) {
    assert_close(got, want, TOL, what);
}

#[test]
fn tiny_llama_prefill_decode_and_greedy_generation() {
    let mut rng = Rng::fresh("tiny_llama_prefill_decode_and_greedy_generation");
    let dir = TempPath::dir("llama");
    let mut reference = write_model(&dir.0, &mut rng);
    let prompt = [3, 17, 0, 39, 8];
    let ctx = Context::host().unwrap();
    let config = ModelConfig {
        max_sequences: 3,
        ..ModelConfig::default()
    };
    let mut model = Model::load(&ctx, &dir.0, Some(&config)).unwrap();
    let info = model.info().clone();
    assert_eq!(info.arch, Arch::Llama);
    assert_eq!(
        (info.vocab_size, info.hidden_size, info.intermediate_size),
        (VOCAB, HIDDEN, INTER)
    );
    assert_eq!(
        (info.num_layers, info.num_heads, info.num_kv_heads),
        (LAYERS, HEADS, KV_HEADS)
    );
    assert_eq!(info.head_dim, HIDDEN / HEADS);
    assert_eq!(info.max_position_embeddings, 64);
    assert_eq!(info.dtype, DType::F16);
    assert!(
        info.weight_bytes > 0 && info.weight_bytes < info.dense_weight_bytes,
        "{:?}",
        info
    );

    // Prefill: the logits of the last prompt token.
    let logits = model.prefill(0, &prompt).unwrap();
    let all = reference.forward(&prompt, &[0], &[prompt.len() as i32]);
    assert_logits(&logits, &all[(prompt.len() - 1) * VOCAB..], "prefill");
    // Three decode steps, each feeding the arg-max back, into a NaN-poisoned buffer.
    let mut expected = vec![argmax(&logits)];
    for step in 1..4 {
        let token = expected[step - 1];
        let mut out = vec![f32::NAN; VOCAB];
        model
            .decode_step_into(&[0], &[token], Some(&mut out))
            .unwrap();
        assert_logits(
            &out,
            &reference.forward(&[token], &[0], &[1]),
            &format!("decode {}", step),
        );
        expected.push(argmax(&out));
    }
    assert_eq!(model.sequence_length(0).unwrap(), prompt.len() + 3);

    // Greedy generation on another slot repeats those arg-max steps exactly...
    let generated = model.generate_greedy(1, &prompt, 4, None).unwrap();
    assert_eq!(generated, expected);
    assert_eq!(
        model.sequence_length(1).unwrap(),
        prompt.len() + 3,
        "the last token is not fed back"
    );
    // ...and stops after the end-of-sequence token (its first occurrence).
    model.release_sequence(1).unwrap();
    assert_eq!(model.sequence_length(1).unwrap(), 0);
    let eos = expected[1];
    let stop = expected.iter().position(|&t| t == eos).unwrap();
    assert_eq!(
        model.generate_greedy(1, &prompt, 4, Some(eos)).unwrap(),
        expected[..=stop].to_vec()
    );

    // A batched decode step of two sequences matches two single-sequence references.
    model.release_sequence(1).unwrap();
    let first = model.prefill(1, &prompt[..2]).unwrap();
    let mut twin = reference_prefill(&mut reference, &prompt[..2]);
    assert_logits(&first, &twin[VOCAB..], "prefill of slot 1");
    let batch = model.decode_step(&[0, 1], &[5, 6]).unwrap();
    assert_eq!(batch.len(), 2 * VOCAB);
    twin = reference.forward(&[5, 6], &[0, 1], &[1, 1]);
    assert_logits(&batch, &twin, "batched decode");

    // A token outside the vocabulary is refused by the library, naming it.
    let err = model.prefill(2, &[VOCAB as i32]).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument, "{}", err);
    assert!(
        err.is_from_library() && err.message().contains("vocabulary"),
        "{}",
        err
    );
    model.close().unwrap();
}

/// Prefills slot 1 of the reference model with `tokens`; returns its logits.
fn reference_prefill(reference: &mut ReferenceModel, tokens: &[i32]) -> Vec<f64> {
    reference.forward(tokens, &[1], &[tokens.len() as i32])
}

#[test]
fn model_calls_check_their_slices_in_rust() {
    let mut rng = Rng::fresh("model_calls_check_their_slices_in_rust");
    let dir = TempPath::dir("checks");
    write_model(&dir.0, &mut rng);
    let ctx = Context::host().unwrap();
    let mut model = Model::load(&ctx, &dir.0, None).unwrap();
    let mut short = vec![f32::NAN; VOCAB - 1];
    let err = model
        .prefill_into(0, &[1, 2], Some(&mut short))
        .unwrap_err();
    assert_eq!(err.status(), Status::ShapeMismatch);
    assert!(
        !err.is_from_library() && err.message().contains("logits"),
        "{}",
        err
    );
    assert_eq!(
        model.sequence_length(0).unwrap(),
        0,
        "a refused call ran the model"
    );
    let err = model.decode_step(&[0, 1], &[1]).unwrap_err();
    assert_eq!(err.status(), Status::ShapeMismatch);
    assert!(!err.is_from_library(), "{}", err);
    let mut one_row = vec![f32::NAN; VOCAB];
    let err = model
        .decode_step_into(&[0, 1], &[1, 2], Some(&mut one_row))
        .unwrap_err();
    assert_eq!(err.status(), Status::ShapeMismatch);
    assert!(
        one_row.iter().all(|v| v.is_nan()),
        "a refused call wrote logits"
    );
    let err = model.generate_greedy(0, &[1], 2, Some(-3)).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument);
    // Without logits the model still runs.
    model.prefill_into(0, &[1, 2, 3], None).unwrap();
    assert_eq!(model.sequence_length(0).unwrap(), 3);
}

#[test]
fn missing_or_broken_model_directories_are_refused() {
    let ctx = Context::host().unwrap();
    let dir = TempPath::dir("broken");
    let err = Model::load(&ctx, dir.0.join("absent"), None).unwrap_err();
    assert!(
        matches!(err.status(), Status::IoError | Status::NotFound),
        "{}",
        err
    );
    assert!(err.is_from_library() && !err.message().is_empty());
    std::fs::write(dir.0.join("config.json"), "{\"model_type\":\"llama\"}").unwrap();
    let err = Model::load(&ctx, &dir.0, None).unwrap_err();
    assert!(
        matches!(err.status(), Status::CorruptData | Status::NotFound),
        "{}",
        err
    );
    assert!(!err.message().is_empty());
    let err = Model::load(&ctx, "bad\0dir", None).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument);
    assert!(!err.is_from_library());
}
