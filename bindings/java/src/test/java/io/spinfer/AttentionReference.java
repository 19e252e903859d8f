package io.spinfer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * float64 self-attention with its own per-sequence cache of rotated keys and values:
 * projections, rotary positions (rotate-half), causal grouped-query attention, output
 * projection. Written from the Hugging Face LLaMA/OPT definitions.
 */
final class AttentionReference {
  final int hidden, heads, kvHeads, headDim;
  final float[] q, k, v, o;          // stored (rounded) weights, row-major [out, in]
  final float[] qb, kb, vb, ob;      // biases or null
  final boolean rope;
  final double theta;
  private final Map<Integer, List<double[]>> keys = new HashMap<>();
  private final Map<Integer, List<double[]>> values = new HashMap<>();

  AttentionReference(int hidden, int heads, int kvHeads, float[] q, float[] k, float[] v, float[] o,
      float[] qb, float[] kb, float[] vb, float[] ob, boolean rope, double theta) {
    this.hidden = hidden;
    this.heads = heads;
    this.kvHeads = kvHeads;
    this.headDim = hidden / heads;
    this.q = q; this.k = k; this.v = v; this.o = o;
    this.qb = qb; this.kb = kb; this.vb = vb; this.ob = ob;
    this.rope = rope;
    this.theta = theta;
  }

  /** One step: token rows of x belong to seqIds[i] x newTokens[i], in that order. Returns [n, hidden]. */
  double[] forward(double[] x, int[] seqIds, int[] newTokens) {
    int n = x.length / hidden;
    int qd = heads * headDim, kd = kvHeads * headDim;
    double[] qs = Reference.linear(x, n, q, qd, hidden, qb);
    double[] ks = Reference.linear(x, n, k, kd, hidden, kb);
    double[] vs = Reference.linear(x, n, v, kd, hidden, vb);
    double[] att = new double[n * qd];
    int row = 0;
    for (int s = 0; s < seqIds.length; ++s) {
      List<double[]> kc = keys.computeIfAbsent(seqIds[s], id -> new ArrayList<>());
      List<double[]> vc = values.computeIfAbsent(seqIds[s], id -> new ArrayList<>());
      int start = kc.size();
      for (int j = 0; j < newTokens[s]; ++j) { // append the step's keys and values first
        double[] kt = java.util.Arrays.copyOfRange(ks, (row + j) * kd, (row + j + 1) * kd);
        if (rope) for (int h = 0; h < kvHeads; ++h) Reference.rope(kt, h * headDim, headDim, start + j, theta);
        kc.add(kt);
        vc.add(java.util.Arrays.copyOfRange(vs, (row + j) * kd, (row + j + 1) * kd));
      }
      for (int j = 0; j < newTokens[s]; ++j, ++row) {
        int pos = start + j;
        double[] qt = java.util.Arrays.copyOfRange(qs, row * qd, (row + 1) * qd);
        for (int h = 0; h < heads; ++h) {
          if (rope) Reference.rope(qt, h * headDim, headDim, pos, theta);
          int g = h / (heads / kvHeads);
          double[] scores = new double[pos + 1];
          double max = Double.NEGATIVE_INFINITY;
          for (int p = 0; p <= pos; ++p) { // causal: up to and including itself
            double dot = 0;
            for (int d = 0; d < headDim; ++d) dot += qt[h * headDim + d] * kc.get(p)[g * headDim + d];
            scores[p] = dot / Math.sqrt(headDim);
            max = Math.max(max, scores[p]);
          }
          double sum = 0;
          for (int p = 0; p <= pos; ++p) sum += scores[p] = Math.exp(scores[p] - max);
          for (int d = 0; d < headDim; ++d) {
            double acc = 0;
            for (int p = 0; p <= pos; ++p) acc += scores[p] / sum * vc.get(p)[g * headDim + d];
            att[row * qd + h * headDim + d] = acc;
          }
        }
      }
    }
    return Reference.linear(att, n, o, hidden, qd, ob);
  }
}
