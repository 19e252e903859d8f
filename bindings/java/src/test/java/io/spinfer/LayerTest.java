package io.spinfer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Linear and MLP layers on a host context against float64 references. */
class LayerTest {
  /** F32 activations, fp32 accumulation and fp32 intermediates. */
  static final double TOLERANCE = 1e-5;

  static void close(float[] y, double[] ref, long seed, String what) {
    double err = Numerics.relativeError(y, ref);
    assertTrue(err <= TOLERANCE, what + ", seed " + seed + ": rel err " + err);
  }

  /**
   * A linear layer's test data from a fresh seed: a sparse weight [m, k] and F32 input
   * x [n, k]; {@code random} draws anything else the test needs.
   */
  private record LinearCase(long seed, Random random, int m, int k, int n, float[] dense, float[] x) {
    static LinearCase draw(int m, int k, int n, double sparsity) {
      long seed = Numerics.freshSeed();
      Random random = new Random(seed);
      float[] dense = Numerics.sparse(random, m, k, sparsity);
      return new LinearCase(seed, random, m, k, n, dense, Numerics.dense(random, n * k));
    }

    Matrix encode(DType storage) {
      return Matrix.encode(dense, m, k, storage);
    }

    /** float64 x * W^T (+ bias) [n, m] with W as stored in {@code storage}; bias may be null. */
    double[] expected(DType storage, float[] bias) {
      return Reference.linear(Reference.widen(x), n, Numerics.rounded(dense, storage), m, k, bias);
    }
  }

  @ParameterizedTest
  @EnumSource(Activation.class)
  void linearWithBiasActivationAndResidual(Activation act) {
    LinearCase c = LinearCase.draw(70, 45, 3, 0.5);
    float[] bias = Numerics.dense(c.random, c.m);
    float[] residual = Numerics.dense(c.random, c.n * c.m);
    try (Context ctx = Context.host(); Matrix w = c.encode(DType.F16);
        Linear layer = Linear.create(ctx, w, bias, act)) {
      assertEquals(c.k, layer.inFeatures());
      assertEquals(c.m, layer.outFeatures());
      double[] pre = c.expected(DType.F16, bias);
      close(layer.forward(c.x, c.n, residual), Reference.add(Reference.apply(pre, act), residual), c.seed,
          act + " + residual");
      close(layer.forward(c.x, c.n, null), Reference.apply(pre, act), c.seed, act.toString());
    }
  }

  @Test
  void linearOnDirectBuffers() {
    LinearCase c = LinearCase.draw(33, 64, 4, 0.7);
    FloatBuffer xb = direct(c.n * c.k).put(c.x);
    xb.flip();
    FloatBuffer yb = direct(c.n * c.m);
    for (int i = 0; i < c.n * c.m; ++i) yb.put(i, Float.NaN);
    try (Context ctx = Context.host(); Matrix w = c.encode(DType.BF16);
        Linear layer = Linear.create(ctx, w, null, Activation.NONE)) {
      layer.forward(xb, c.n, null, yb, DType.F32);
    }
    float[] y = new float[c.n * c.m];
    yb.get(0, y);
    close(y, c.expected(DType.BF16, null), c.seed, "buffers");
  }

  @Test
  void plainMlpLikeOpt() {
    long seed = Numerics.freshSeed();
    Random random = new Random(seed);
    int hidden = 48, inter = 100, n = 5;
    float[] up = Numerics.sparse(random, inter, hidden, 0.5);
    float[] down = Numerics.sparse(random, hidden, inter, 0.5);
    float[] upBias = Numerics.dense(random, inter);
    float[] downBias = Numerics.dense(random, hidden);
    float[] x = Numerics.dense(random, n * hidden);
    float[] residual = Numerics.dense(random, n * hidden);
    try (Context ctx = Context.host(); Matrix wu = Matrix.encode(up, inter, hidden, DType.F16);
        Matrix wd = Matrix.encode(down, hidden, inter, DType.F16);
        Mlp mlp = Mlp.create(ctx, null, wu, wd, upBias, downBias,
            new Mlp.Options().kind(MlpKind.PLAIN).activation(Activation.RELU))) {
      assertEquals(hidden, mlp.hiddenSize());
      double[] ref = Reference.mlp(Reference.widen(x), n, hidden, inter, null,
          Numerics.rounded(up, DType.F16), Numerics.rounded(down, DType.F16), upBias, downBias, Activation.RELU);
      close(mlp.forward(x, n, residual), Reference.add(ref, residual), seed, "plain MLP");
    }
  }

  @Test
  void gatedMlpLikeLlamaFusedAndNot() {
    long seed = Numerics.freshSeed();
    Random random = new Random(seed);
    int hidden = 40, inter = 128, n = 3; // inter a multiple of 64: gate and up can be fused
    float[] gate = Numerics.sparse(random, inter, hidden, 0.6);
    float[] up = Numerics.sparse(random, inter, hidden, 0.6);
    float[] down = Numerics.sparse(random, hidden, inter, 0.6);
    float[] x = Numerics.dense(random, n * hidden);
    double[] ref = Reference.mlp(Reference.widen(x), n, hidden, inter, Numerics.rounded(gate, DType.BF16),
        Numerics.rounded(up, DType.BF16), Numerics.rounded(down, DType.BF16), null, null, Activation.SILU);
    for (boolean fuse : new boolean[] {true, false}) {
      try (Context ctx = Context.host(); Matrix wg = Matrix.encode(gate, inter, hidden, DType.BF16);
          Matrix wu = Matrix.encode(up, inter, hidden, DType.BF16);
          Matrix wd = Matrix.encode(down, hidden, inter, DType.BF16);
          Mlp mlp = Mlp.create(ctx, wg, wu, wd, null, null, new Mlp.Options().fuseGateUp(fuse))) {
        close(mlp.forward(x, n, null), ref, seed, "gated MLP, fused " + fuse);
      }
    }
  }

  @Test
  void aLayerKeepsItsMatrixAliveAfterTheMatrixIsClosed() {
    LinearCase c = LinearCase.draw(20, 30, 2, 0.5);
    try (Context ctx = Context.host()) {
      Matrix w = c.encode(DType.F16);
      try (Linear layer = Linear.create(ctx, w, null, Activation.NONE)) {
        w.close(); // the Java Matrix is gone; the C matrix lives on for the layer
        assertThrows(SpinferException.class, w::info);
        System.gc();
        close(layer.forward(c.x, c.n, null), c.expected(DType.F16, null), c.seed,
            "after the matrix was closed");
      }
      SpinferException e = assertThrows(SpinferException.class, () -> Linear.create(ctx, w, null, Activation.NONE));
      assertEquals("Matrix is closed", e.getMessage());
    }
  }

  @Test
  void layerErrorsCarryTheLibrarysMessage() {
    try (Context ctx = Context.host(); Matrix w = Matrix.encode(new float[] {1, 2, 3, 4, 5, 6}, 2, 3, DType.F16);
        Linear layer = Linear.create(ctx, w, null, Activation.NONE)) {
      ErrorTest.contains(ErrorTest.fails(Status.SHAPE_MISMATCH, () -> layer.forward(new float[5], 2, null)), "x");
      SpinferException negative = assertThrows(SpinferException.class, () -> layer.forward(new float[0], -1, null));
      assertEquals(Status.INVALID_ARGUMENT, negative.status());
      ErrorTest.fails(Status.INVALID_ARGUMENT, () -> layer.forward(null, 1, null));
      layer.close();
      ErrorTest.contains(ErrorTest.fails(Status.INVALID_ARGUMENT, () -> layer.forward(new float[3], 1, null)), "Linear is closed");
    }
    try (Context ctx = Context.host(); Matrix up = Matrix.encode(new float[] {1, 0, 0, 1}, 2, 2, DType.F16);
        Matrix down = Matrix.encode(new float[] {1, 2, 3}, 1, 3, DType.F16)) {
      // a down projection whose columns (3) disagree with up's rows (2): the library names it
      SpinferException e = assertThrows(SpinferException.class,
          () -> Mlp.create(ctx, null, up, down, null, null, new Mlp.Options().kind(MlpKind.PLAIN)));
      assertEquals(Status.SHAPE_MISMATCH, e.status(), e.toString());
    }
  }

  private static FloatBuffer direct(int floats) {
    return ByteBuffer.allocateDirect(floats * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
  }
}
