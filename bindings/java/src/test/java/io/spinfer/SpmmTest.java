package io.spinfer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Y = X W^T + b on a host context against a float64 reference of the stored (rounded)
 * weights, for odd shapes; outputs are poisoned with NaN first so an unwritten element fails.
 */
class SpmmTest {
  /** fp32 results, fp32 accumulation: only summation-order differences remain. */
  static final double F32_TOLERANCE = 1e-5;
  static final double F16_TOLERANCE = 1e-3;
  static final double BF16_TOLERANCE = 1e-2;

  static Stream<Arguments> shapes() {
    return Stream.of(
        Arguments.of(1, 1, 1, 0.0), Arguments.of(7, 13, 3, 0.5), Arguments.of(64, 64, 8, 0.7),
        Arguments.of(65, 129, 5, 0.9), Arguments.of(100, 37, 17, 0.3), Arguments.of(33, 300, 2, 0.6));
  }

  @ParameterizedTest
  @MethodSource("shapes")
  void floatArraysMatchTheFloat64Reference(int m, int k, int n, double sparsity) {
    long seed = Numerics.freshSeed();
    Random random = new Random(seed);
    float[] dense = Numerics.sparse(random, m, k, sparsity);
    float[] x = Numerics.dense(random, n * k);
    float[] bias = Numerics.dense(random, m);
    for (DType storage : new DType[] {DType.F16, DType.BF16}) {
      float[] stored = Numerics.rounded(dense, storage);
      try (Context ctx = Context.host(); Matrix w = Matrix.encode(dense, m, k, storage)) {
        float[] y = Numerics.poisoned(n * m);
        ctx.spmm(w, x, n, bias, y);
        double err = Numerics.relativeError(y, Numerics.reference(x, n, stored, m, k, bias));
        assertTrue(err <= F32_TOLERANCE, "seed " + seed + ", " + storage + ": rel err " + err);

        float[] noBias = ctx.spmm(w, x, n, null);
        double errNoBias = Numerics.relativeError(noBias, Numerics.reference(x, n, stored, m, k, null));
        assertTrue(errNoBias <= F32_TOLERANCE, "seed " + seed + ", no bias: rel err " + errNoBias);
      }
    }
  }

  @ParameterizedTest
  @MethodSource("shapes")
  void sixteenBitDataMatchesTheFloat64Reference(int m, int k, int n, double sparsity) {
    long seed = Numerics.freshSeed();
    Random random = new Random(seed);
    float[] dense = Numerics.sparse(random, m, k, sparsity);
    for (DType dtype : new DType[] {DType.F16, DType.BF16}) {
      short[] x = Numerics.bits(Numerics.dense(random, n * k), dtype);
      short[] bias = Numerics.bits(Numerics.dense(random, m), dtype);
      short[] y = new short[n * m];
      java.util.Arrays.fill(y, dtype == DType.F16 ? (short) 0x7e00 : (short) 0x7fc0); // NaN
      try (Context ctx = Context.host(); Matrix w = Matrix.encode(dense, m, k, dtype)) {
        ctx.spmm(w, x, n, bias, y, dtype);
      }
      double[] ref = Numerics.reference(Numerics.values(x, dtype), n, Numerics.rounded(dense, dtype),
          m, k, Numerics.values(bias, dtype));
      double err = Numerics.relativeError(Numerics.values(y, dtype), ref);
      double tolerance = dtype == DType.F16 ? F16_TOLERANCE : BF16_TOLERANCE;
      assertTrue(err <= tolerance, "seed " + seed + ", " + dtype + ": rel err " + err);
    }
  }

  @Test
  void directBuffersWithLeadingDimensionsAndPositions() {
    long seed = Numerics.freshSeed();
    Random random = new Random(seed);
    int m = 50, k = 70, n = 6, ldx = 75, ldy = 53, offset = 3;
    float[] dense = Numerics.sparse(random, m, k, 0.6);
    float[] x = Numerics.dense(random, n * k);
    float[] bias = Numerics.dense(random, m);
    FloatBuffer xb = direct(offset + (n - 1) * ldx + k);
    for (int i = 0; i < xb.capacity(); ++i) xb.put(i, Float.NaN); // padding must not be read
    for (int r = 0; r < n; ++r) for (int c = 0; c < k; ++c) xb.put(offset + r * ldx + c, x[r * k + c]);
    xb.position(offset);
    FloatBuffer bb = direct(m).put(bias);
    bb.flip();
    FloatBuffer yb = direct(offset + (n - 1) * ldy + m);
    for (int i = 0; i < yb.capacity(); ++i) yb.put(i, Float.NaN);
    yb.position(offset);

    try (Context ctx = Context.host(); Matrix w = Matrix.encode(dense, m, k, DType.F16)) {
      ctx.spmm(w, xb, n, ldx, bb, yb, ldy, DType.F32);
    }
    float[] y = new float[n * m];
    for (int r = 0; r < n; ++r) for (int c = 0; c < m; ++c) y[r * m + c] = yb.get(offset + r * ldy + c);
    double err = Numerics.relativeError(y,
        Numerics.reference(x, n, Numerics.rounded(dense, DType.F16), m, k, bias));
    assertTrue(err <= F32_TOLERANCE, "seed " + seed + ": rel err " + err);
    for (int r = 0; r + 1 < n; ++r) {
      for (int c = m; c < ldy; ++c) assertTrue(Float.isNaN(yb.get(offset + r * ldy + c)), "ldy padding is not written");
    }
  }

  @Test
  void zeroRowsIsAllowedAndWritesNothing() {
    try (Context ctx = Context.host();
        Matrix w = Matrix.encode(Numerics.sparse(new Random(1), 8, 8, 0.5), 8, 8, DType.F16)) {
      assertEquals(0, ctx.spmm(w, new float[0], 0, null).length);
    }
  }

  @Test
  void oneContextServesManyThreadsAtOnce() throws Exception {
    long seed = Numerics.freshSeed();
    Random random = new Random(seed);
    int m = 96, k = 160, n = 4;
    float[] dense = Numerics.sparse(random, m, k, 0.7);
    float[] stored = Numerics.rounded(dense, DType.BF16);
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try (Context ctx = Context.create(Backend.HOST, 0, 2); Matrix w = Matrix.encode(dense, m, k, DType.BF16)) {
      assertEquals(Backend.HOST, ctx.backend());
      List<Future<Double>> errors = new ArrayList<>();
      for (int t = 0; t < 16; ++t) {
        float[] x = Numerics.dense(random, n * k);
        errors.add(pool.submit(() -> Numerics.relativeError(ctx.spmm(w, x, n, null),
            Numerics.reference(x, n, stored, m, k, null))));
      }
      for (Future<Double> e : errors) {
        double err = e.get();
        assertTrue(err <= F32_TOLERANCE, "seed " + seed + ": rel err " + err);
      }
    } finally {
      pool.shutdown();
    }
  }

  private static FloatBuffer direct(int floats) {
    return ByteBuffer.allocateDirect(floats * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
  }
}
