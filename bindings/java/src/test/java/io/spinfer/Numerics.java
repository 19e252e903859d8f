package io.spinfer;

import java.util.Random;

/**
 * Test-side numerics, independent of the library: fp16/bf16 rounding (round to
 * nearest even), random sparse matrices, the float64 reference product and the
 * relative error ||out - ref|| / ||ref||.
 */
final class Numerics {
  private Numerics() {}

  /** Fresh seed each run, printed by the tests on failure. */
  static long freshSeed() {
    return System.nanoTime() ^ 0x5DEECE66DL;
  }

  // ---- 16-bit floats ----------------------------------------------------------------

  /** IEEE binary16 bits of {@code f}, rounded to nearest even. */
  static short floatToHalf(float f) {
    int x = Float.floatToRawIntBits(f);
    int sign = (x >>> 16) & 0x8000;
    int abs = x & 0x7fffffff;
    if (abs >= 0x7f800000) return (short) (sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 : 0));
    if (abs >= 0x477ff000) return (short) (sign | 0x7c00); // >= 65520 rounds to infinity
    if (abs < 0x38800000) { // below 2^-14: a subnormal half, unit 2^-24 (exact scaling in double)
      return (short) (sign | (int) Math.rint((double) Float.intBitsToFloat(abs) * 0x1p24));
    }
    int half = ((((abs >>> 23) - 127 + 15)) << 10) | ((abs & 0x7fffff) >>> 13);
    int rest = abs & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1) != 0)) ++half; // a carry into the exponent is right
    return (short) (sign | half);
  }

  /** Value of IEEE binary16 bits. */
  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1f;
    int mant = bits & 0x3ff;
    if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    if (exp == 0) {
      float v = mant * 0x1p-24f;
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
  }

  /** bfloat16 bits of {@code f}, rounded to nearest even. */
  static short floatToBf16(float f) {
    int x = Float.floatToRawIntBits(f);
    if ((x & 0x7fffffff) > 0x7f800000) return (short) ((x >>> 16) | 0x40); // quiet NaN
    x += 0x7fff + ((x >>> 16) & 1);
    return (short) (x >>> 16);
  }

  /** Value of bfloat16 bits. */
  static float bf16ToFloat(short b) {
    return Float.intBitsToFloat((b & 0xffff) << 16);
  }

  static short toBits(float f, DType dtype) {
    return dtype == DType.F16 ? floatToHalf(f) : floatToBf16(f);
  }

  static float fromBits(short bits, DType dtype) {
    return dtype == DType.F16 ? halfToFloat(bits) : bf16ToFloat(bits);
  }

  /** {@code values} rounded to {@code dtype} and back (the value the library stores). */
  static float[] rounded(float[] values, DType dtype) {
    float[] out = new float[values.length];
    for (int i = 0; i < values.length; ++i) {
      out[i] = dtype == DType.F32 ? values[i] : fromBits(toBits(values[i], dtype), dtype);
    }
    return out;
  }

  static short[] bits(float[] values, DType dtype) {
    short[] out = new short[values.length];
    for (int i = 0; i < values.length; ++i) out[i] = toBits(values[i], dtype);
    return out;
  }

  static float[] values(short[] bits, DType dtype) {
    float[] out = new float[bits.length];
    for (int i = 0; i < bits.length; ++i) out[i] = fromBits(bits[i], dtype);
    return out;
  }

  // ---- data ---------------------------------------------------------------------------

  /** Row-major [rows, cols] with about {@code sparsity} zeros; non-zeros uniform in (-1, 1), never tiny. */
  static float[] sparse(Random random, int rows, int cols, double sparsity) {
    float[] w = new float[rows * cols];
    for (int i = 0; i < w.length; ++i) {
      if (random.nextDouble() < sparsity) continue;
      float v = 0.0625f + 0.9375f * random.nextFloat();
      w[i] = random.nextBoolean() ? v : -v;
    }
    return w;
  }

  /** Dense uniform values in [-1, 1). */
  static float[] dense(Random random, int count) {
    float[] x = new float[count];
    for (int i = 0; i < count; ++i) x[i] = 2 * random.nextFloat() - 1;
    return x;
  }

  static long countNonZero(float[] values) {
    long count = 0;
    for (float v : values) if (v != 0.0f) ++count;
    return count;
  }

  // ---- reference ----------------------------------------------------------------------

  /** Y = X W^T + b in float64: x [n, k], w [m, k], bias [m] or null. */
  static double[] reference(float[] x, int n, float[] w, int m, int k, float[] bias) {
    double[] y = new double[n * m];
    for (int r = 0; r < n; ++r) {
      for (int i = 0; i < m; ++i) {
        double sum = bias == null ? 0.0 : bias[i];
        for (int j = 0; j < k; ++j) sum += (double) x[r * k + j] * (double) w[i * k + j];
        y[r * m + i] = sum;
      }
    }
    return y;
  }

  /** ||out - ref|| / ||ref||; NaN (an unwritten, poisoned output) makes it NaN. */
  static double relativeError(float[] out, double[] ref) {
    double diff = 0.0;
    double norm = 0.0;
    for (int i = 0; i < ref.length; ++i) {
      double d = out[i] - ref[i];
      diff += d * d;
      norm += ref[i] * ref[i];
    }
    return Math.sqrt(diff) / Math.max(Math.sqrt(norm), Double.MIN_NORMAL);
  }

  static float[] poisoned(int count) {
    float[] y = new float[count];
    java.util.Arrays.fill(y, Float.NaN);
    return y;
  }
}
