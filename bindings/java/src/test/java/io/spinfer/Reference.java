package io.spinfer;

/**
 * float64 references for the layer tests, written from the definitions (Hugging Face
 * conventions), independent of the library: activations, linear maps, MLPs, norms,
 * rotary positions and causal attention.
 */
final class Reference {
  private Reference() {}

  /** erf by its everywhere-convergent series of positive terms (no cancellation). */
  static double erf(double x) {
    double a = Math.abs(x);
    if (a > 6.0) return Math.signum(x);
    double term = a;
    double sum = a;
    for (int n = 1; n < 500 && term > 1e-18 * sum; ++n) {
      term *= 2.0 * a * a / (2 * n + 1);
      sum += term;
    }
    double r = 2.0 / Math.sqrt(Math.PI) * Math.exp(-a * a) * sum;
    return x < 0 ? -r : r;
  }

  static double activate(double x, Activation a) {
    switch (a) {
      case NONE: return x;
      case RELU: return Math.max(x, 0.0);
      case GELU: return 0.5 * x * (1.0 + erf(x / Math.sqrt(2.0)));
      case GELU_TANH:
        return 0.5 * x * (1.0 + Math.tanh(Math.sqrt(2.0 / Math.PI) * (x + 0.044715 * x * x * x)));
      case SILU: return x / (1.0 + Math.exp(-x));
      default: throw new AssertionError(a);
    }
  }

  /** x [n, k] times w [m, k] transposed, plus bias [m] or null: [n, m]. */
  static double[] linear(double[] x, int n, float[] w, int m, int k, float[] bias) {
    double[] y = new double[n * m];
    for (int r = 0; r < n; ++r) {
      for (int i = 0; i < m; ++i) {
        double s = bias == null ? 0.0 : bias[i];
        for (int j = 0; j < k; ++j) s += x[r * k + j] * (double) w[i * k + j];
        y[r * m + i] = s;
      }
    }
    return y;
  }

  static double[] widen(float[] v) {
    double[] d = new double[v.length];
    for (int i = 0; i < v.length; ++i) d[i] = v[i];
    return d;
  }

  static double[] add(double[] a, float[] b) {
    if (b == null) return a;
    double[] c = a.clone();
    for (int i = 0; i < c.length; ++i) c[i] += b[i];
    return c;
  }

  static double[] add(double[] a, double[] b) {
    double[] c = a.clone();
    for (int i = 0; i < c.length; ++i) c[i] += b[i];
    return c;
  }

  static double[] apply(double[] v, Activation a) {
    double[] out = new double[v.length];
    for (int i = 0; i < v.length; ++i) out[i] = activate(v[i], a);
    return out;
  }

  /** PLAIN: down(act(up x + ub)) + db; GATED: down(act(gate x) * (up x)) (+ biases). */
  static double[] mlp(double[] x, int n, int hidden, int inter, float[] gate, float[] up, float[] down,
      float[] upBias, float[] downBias, Activation act) {
    double[] u = linear(x, n, up, inter, hidden, upBias);
    double[] h;
    if (gate == null) {
      h = apply(u, act);
    } else {
      double[] g = apply(linear(x, n, gate, inter, hidden, null), act);
      h = new double[u.length];
      for (int i = 0; i < h.length; ++i) h[i] = g[i] * u[i];
    }
    return linear(h, n, down, hidden, inter, downBias);
  }

  /** RMSNorm per row: x / sqrt(mean(x^2) + eps) * w. */
  static double[] rmsNorm(double[] x, int n, int h, float[] w, double eps) {
    double[] y = new double[x.length];
    for (int r = 0; r < n; ++r) {
      double ss = 0.0;
      for (int j = 0; j < h; ++j) ss += x[r * h + j] * x[r * h + j];
      double inv = 1.0 / Math.sqrt(ss / h + eps);
      for (int j = 0; j < h; ++j) y[r * h + j] = x[r * h + j] * inv * w[j];
    }
    return y;
  }

  /** Rotary position embedding, rotate-half form, applied in place to one head vector. */
  static void rope(double[] v, int offset, int headDim, long position, double theta) {
    int half = headDim / 2;
    for (int i = 0; i < half; ++i) {
      double angle = position * Math.pow(theta, -2.0 * i / headDim);
      double c = Math.cos(angle);
      double s = Math.sin(angle);
      double x1 = v[offset + i];
      double x2 = v[offset + i + half];
      v[offset + i] = x1 * c - x2 * s;
      v[offset + i + half] = x2 * c + x1 * s;
    }
  }
}
