//! float64 references for the layer and model tests, written from the definitions
//! (Hugging Face conventions) and independent of the library: activations, linear maps,
//! MLPs, norms, rotary positions, causal grouped-query attention with its own cache.
//! Builds on the test crate's `common` module (its tests declare both).
#![allow(dead_code)]

use std::collections::HashMap;

use spinfer::{Activation, DType};

use crate::common::{reference, stored};

/// A whole matrix as stored.
pub fn stored_all(w: &[f32], storage: DType) -> Vec<f64> {
    w.iter().map(|&v| stored(v, storage)).collect()
}

pub fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// erf from its series erf(a) = 2/sqrt(pi) e^(-a^2) sum_n (2a^2)^n a / (1*3*...*(2n+1)),
/// whose terms are all positive (no cancellation); |x| > 6 is +-1 to f64 precision.
pub fn erf(x: f64) -> f64 {
    let a = x.abs();
    if a > 6.0 {
        return x.signum();
    }
    let (mut term, mut sum) = (a, a);
    let mut n = 1.0;
    while term > 1e-18 * sum && n < 600.0 {
        term *= 2.0 * a * a / (2.0 * n + 1.0);
        sum += term;
        n += 1.0;
    }
    let r = 2.0 / std::f64::consts::PI.sqrt() * (-a * a).exp() * sum;
    if x < 0.0 {
        -r
    } else {
        r
    }
}

pub fn activate(x: f64, a: Activation) -> f64 {
    match a {
        Activation::None => x,
        Activation::Relu => x.max(0.0),
        Activation::Gelu => 0.5 * x * (1.0 + erf(x / 2f64.sqrt())),
        Activation::GeluTanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
        }
        Activation::Silu => x / (1.0 + (-x).exp()),
    }
}

/// x [n, k] * w[m, k]^T + bias: [n, m].
pub fn linear(
    x: &[f64],
    n: usize,
    w: &[f64],
    m: usize,
    k: usize,
    bias: Option<&[f64]>,
) -> Vec<f64> {
    reference(w, m, k, x, n, k, bias)
}

pub fn add(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

pub fn apply(v: &[f64], a: Activation) -> Vec<f64> {
    v.iter().map(|&x| activate(x, a)).collect()
}

/// Plain (gate None): down(act(up x + ub)) + db; gated: down(act(gate x) * (up x + ub)) + db.
#[allow(clippy::too_many_arguments)]
pub fn mlp(
    x: &[f64],
    n: usize,
    hidden: usize,
    inter: usize,
    gate: Option<&[f64]>,
    up: &[f64],
    down: &[f64],
    up_bias: Option<&[f64]>,
    down_bias: Option<&[f64]>,
    act: Activation,
) -> Vec<f64> {
    let u = linear(x, n, up, inter, hidden, up_bias);
    let h = match gate {
        None => apply(&u, act),
        Some(g) => {
            let g = apply(&linear(x, n, g, inter, hidden, None), act);
            g.iter().zip(&u).map(|(a, b)| a * b).collect()
        }
    };
    linear(&h, n, down, hidden, inter, down_bias)
}

/// RMSNorm per row: x / sqrt(mean(x^2) + eps) * w.
pub fn rms_norm(x: &[f64], n: usize, h: usize, w: &[f64], eps: f64) -> Vec<f64> {
    let mut y = vec![0.0; n * h];
    for r in 0..n {
        let row = &x[r * h..(r + 1) * h];
        let inv = 1.0 / (row.iter().map(|v| v * v).sum::<f64>() / h as f64 + eps).sqrt();
        for j in 0..h {
            y[r * h + j] = row[j] * inv * w[j];
        }
    }
    y
}

/// LayerNorm per row: (x - mean) / sqrt(var + eps) * w + b.
pub fn layer_norm(x: &[f64], n: usize, h: usize, w: &[f64], b: &[f64], eps: f64) -> Vec<f64> {
    let mut y = vec![0.0; n * h];
    for r in 0..n {
        let row = &x[r * h..(r + 1) * h];
        let mean = row.iter().sum::<f64>() / h as f64;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / h as f64;
        let inv = 1.0 / (var + eps).sqrt();
        for j in 0..h {
            y[r * h + j] = (row[j] - mean) * inv * w[j] + b[j];
        }
    }
    y
}

/// Rotate-half rotary embedding of one head vector at `position`, in place.
pub fn rope(v: &mut [f64], head_dim: usize, position: usize, theta: f64) {
    let half = head_dim / 2;
    for i in 0..half {
        let angle = position as f64 * theta.powf(-2.0 * i as f64 / head_dim as f64);
        let (s, c) = angle.sin_cos();
        let (x1, x2) = (v[i], v[i + half]);
        v[i] = x1 * c - x2 * s;
        v[i + half] = x2 * c + x1 * s;
    }
}

/// Self-attention with its own per-sequence cache of rotated keys and values.
pub struct AttentionRef {
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub q: Vec<f64>,
    pub k: Vec<f64>,
    pub v: Vec<f64>,
    pub o: Vec<f64>,
    pub q_bias: Option<Vec<f64>>,
    pub k_bias: Option<Vec<f64>>,
    pub v_bias: Option<Vec<f64>>,
    pub o_bias: Option<Vec<f64>>,
    /// Rotary positions (LLaMA); OPT layers have none.
    pub rope: bool,
    pub theta: f64,
    keys: HashMap<i32, Vec<Vec<f64>>>,
    values: HashMap<i32, Vec<Vec<f64>>>,
}

impl AttentionRef {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        hidden: usize,
        heads: usize,
        kv_heads: usize,
        q: Vec<f64>,
        k: Vec<f64>,
        v: Vec<f64>,
        o: Vec<f64>,
        q_bias: Option<Vec<f64>>,
        o_bias: Option<Vec<f64>>,
    ) -> AttentionRef {
        AttentionRef {
            hidden,
            heads,
            kv_heads,
            head_dim: hidden / heads,
            q,
            k,
            v,
            o,
            q_bias,
            k_bias: None,
            v_bias: None,
            o_bias,
            rope: true,
            theta: 10000.0,
            keys: HashMap::new(),
            values: HashMap::new(),
        }
    }

    /// One step: the rows of x belong to seq_ids[i] x new_tokens[i], in that order.
    pub fn forward(&mut self, x: &[f64], seq_ids: &[i32], new_tokens: &[i32]) -> Vec<f64> {
        let n = x.len() / self.hidden;
        let (hd, qd, kd) = (
            self.head_dim,
            self.heads * self.head_dim,
            self.kv_heads * self.head_dim,
        );
        let qs = linear(x, n, &self.q, qd, self.hidden, self.q_bias.as_deref());
        let ks = linear(x, n, &self.k, kd, self.hidden, self.k_bias.as_deref());
        let vs = linear(x, n, &self.v, kd, self.hidden, self.v_bias.as_deref());
        let mut att = vec![0.0; n * qd];
        let mut row = 0;
        for (s, &seq) in seq_ids.iter().enumerate() {
            let count = new_tokens[s] as usize;
            let kc = self.keys.entry(seq).or_default();
            let vc = self.values.entry(seq).or_default();
            let start = kc.len();
            for j in 0..count {
                // The step's own keys and values go in first: causal includes itself.
                let mut kt = ks[(row + j) * kd..(row + j + 1) * kd].to_vec();
                for h in 0..self.kv_heads * self.rope as usize {
                    rope(&mut kt[h * hd..(h + 1) * hd], hd, start + j, self.theta);
                }
                kc.push(kt);
                vc.push(vs[(row + j) * kd..(row + j + 1) * kd].to_vec());
            }
            for j in 0..count {
                let pos = start + j;
                let mut qt = qs[row * qd..(row + 1) * qd].to_vec();
                for h in 0..self.heads {
                    if self.rope {
                        rope(&mut qt[h * hd..(h + 1) * hd], hd, pos, self.theta);
                    }
                    let g = h / (self.heads / self.kv_heads);
                    let scores: Vec<f64> = (0..=pos)
                        .map(|p| {
                            (0..hd)
                                .map(|d| qt[h * hd + d] * kc[p][g * hd + d])
                                .sum::<f64>()
                                / (hd as f64).sqrt()
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    for d in 0..hd {
                        att[row * qd + h * hd + d] =
                            (0..=pos).map(|p| e[p] / sum * vc[p][g * hd + d]).sum();
                    }
                }
                row += 1;
            }
        }
        linear(&att, n, &self.o, self.hidden, qd, self.o_bias.as_deref())
    }
}
