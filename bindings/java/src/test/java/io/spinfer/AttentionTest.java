package io.spinfer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * KV cache bookkeeping, attention and a LLaMA decoder layer on a host context over two
 * steps (prefill of two sequences, then one decode token each), against float64
 * references that keep their own caches.
 */
class AttentionTest {
  static final int HIDDEN = 32, HEADS = 4, KV_HEADS = 2, HEAD_DIM = 8, INTER = 64;
  static final int[] SEQS = {0, 2};
  static final int[][] STEPS = {{3, 2}, {1, 1}}; // new tokens per sequence, per step
  /** F32 activations and cache, fp32 throughout: measured errors are about 2e-7. */
  static final double TOLERANCE = 1e-5;

  static KvCache.Config cacheConfig() {
    return new KvCache.Config().numLayers(2).numKvHeads(KV_HEADS).headDim(HEAD_DIM).blockSize(4)
        .numBlocks(8).maxSequences(4).maxSequenceLength(64).dtype(DType.F32);
  }

  @Test
  void kvCacheCountsTokensAndBlocks() {
    try (Context ctx = Context.host(); KvCache cache = KvCache.create(ctx, cacheConfig())) {
      assertEquals(8, cache.freeBlocks());
      cache.beginStep(new int[] {0, 2}, new int[] {5, 2}); // 5 tokens: 2 blocks of 4; 2 tokens: 1 block
      assertEquals(5, cache.sequenceLength(0));
      assertEquals(2, cache.sequenceLength(2));
      assertEquals(0, cache.sequenceLength(1));
      assertEquals(5, cache.freeBlocks());
      SpinferException full = assertThrows(SpinferException.class,
          () -> cache.beginStep(new int[] {1}, new int[] {40})); // 10 blocks: more than the pool
      assertEquals(Status.OUT_OF_MEMORY, full.status(), full.toString());
      assertEquals(0, cache.sequenceLength(1), "a refused step changes nothing");
      assertEquals(5, cache.freeBlocks());
      cache.releaseSequence(0);
      assertEquals(0, cache.sequenceLength(0));
      assertEquals(7, cache.freeBlocks());
      ErrorTest.fails(Status.SHAPE_MISMATCH, () -> cache.beginStep(new int[] {0, 1}, new int[] {1}));
      ErrorTest.fails(Status.INVALID_ARGUMENT, () -> cache.beginStep(new int[] {0, 0}, new int[] {1, 1}));
    }
  }

  @Test
  void attentionWithRopeAndGroupedQueriesOverTwoSteps() {
    long seed = Numerics.freshSeed();
    Random random = new Random(seed);
    int qd = HEADS * HEAD_DIM, kd = KV_HEADS * HEAD_DIM;
    float[] q = Numerics.sparse(random, qd, HIDDEN, 0.5), k = Numerics.sparse(random, kd, HIDDEN, 0.5);
    float[] v = Numerics.sparse(random, kd, HIDDEN, 0.5), o = Numerics.sparse(random, HIDDEN, qd, 0.5);
    float[] qb = Numerics.dense(random, qd), ob = Numerics.dense(random, HIDDEN);
    AttentionReference ref = new AttentionReference(HIDDEN, HEADS, KV_HEADS, Numerics.rounded(q, DType.F16),
        Numerics.rounded(k, DType.F16), Numerics.rounded(v, DType.F16), Numerics.rounded(o, DType.F16),
        qb, null, null, ob, true, 10000.0);
    try (Context ctx = Context.host(); KvCache cache = KvCache.create(ctx, cacheConfig());
        Matrix wq = Matrix.encode(q, qd, HIDDEN, DType.F16); Matrix wk = Matrix.encode(k, kd, HIDDEN, DType.F16);
        Matrix wv = Matrix.encode(v, kd, HIDDEN, DType.F16); Matrix wo = Matrix.encode(o, HIDDEN, qd, DType.F16);
        Attention attention = Attention.create(ctx, wq, wk, wv, wo, qb, null, null, ob,
            new Attention.Config().numHeads(HEADS).numKvHeads(KV_HEADS))) {
      for (int[] step : STEPS) {
        int n = step[0] + step[1];
        float[] x = Numerics.dense(random, n * HIDDEN);
        float[] residual = Numerics.dense(random, n * HIDDEN);
        cache.beginStep(SEQS, step);
        float[] y = attention.forward(cache, 1, x, n, residual);
        double[] expected = Reference.add(ref.forward(Reference.widen(x), SEQS, step), residual);
        double err = Numerics.relativeError(y, expected);
        assertTrue(err <= TOLERANCE, "step " + java.util.Arrays.toString(step) + ", seed " + seed + ": rel err " + err);
      }
      assertEquals(4, cache.sequenceLength(0));
      assertEquals(3, cache.sequenceLength(2));
    }
  }

  @Test
  void llamaDecoderLayerOverTwoSteps() {
    long seed = Numerics.freshSeed();
    Random random = new Random(seed);
    int qd = HEADS * HEAD_DIM, kd = KV_HEADS * HEAD_DIM;
    DType st = DType.BF16;
    float[] q = Numerics.sparse(random, qd, HIDDEN, 0.5), k = Numerics.sparse(random, kd, HIDDEN, 0.5);
    float[] v = Numerics.sparse(random, kd, HIDDEN, 0.5), o = Numerics.sparse(random, HIDDEN, qd, 0.5);
    float[] gate = Numerics.sparse(random, INTER, HIDDEN, 0.5), up = Numerics.sparse(random, INTER, HIDDEN, 0.5);
    float[] down = Numerics.sparse(random, HIDDEN, INTER, 0.5);
    float[] attnNorm = Numerics.dense(random, HIDDEN), mlpNorm = Numerics.dense(random, HIDDEN);
    double eps = 1e-5;
    AttentionReference attRef = new AttentionReference(HIDDEN, HEADS, KV_HEADS, Numerics.rounded(q, st),
        Numerics.rounded(k, st), Numerics.rounded(v, st), Numerics.rounded(o, st), null, null, null, null, true, 10000.0);
    try (Context ctx = Context.host(); KvCache cache = KvCache.create(ctx, cacheConfig());
        Matrix wq = Matrix.encode(q, qd, HIDDEN, st); Matrix wk = Matrix.encode(k, kd, HIDDEN, st);
        Matrix wv = Matrix.encode(v, kd, HIDDEN, st); Matrix wo = Matrix.encode(o, HIDDEN, qd, st);
        Matrix wg = Matrix.encode(gate, INTER, HIDDEN, st); Matrix wu = Matrix.encode(up, INTER, HIDDEN, st);
        Matrix wd = Matrix.encode(down, HIDDEN, INTER, st)) {
      DecoderLayer.Weights w = new DecoderLayer.Weights();
      w.qProj = wq; w.kProj = wk; w.vProj = wv; w.oProj = wo; w.gateProj = wg; w.upProj = wu; w.downProj = wd;
      w.attnNormWeight = attnNorm;
      w.mlpNormWeight = mlpNorm;
      DecoderLayer.Config config = new DecoderLayer.Config().arch(Arch.LLAMA).hiddenSize(HIDDEN)
          .intermediateSize(INTER).numHeads(HEADS).numKvHeads(KV_HEADS).normEps(eps);
      try (DecoderLayer layer = DecoderLayer.create(ctx, w, config)) {
        for (int[] step : STEPS) {
          int n = step[0] + step[1];
          float[] x = Numerics.dense(random, n * HIDDEN);
          cache.beginStep(SEQS, step);
          float[] y = layer.forward(cache, 0, x, n);
          double[] xd = Reference.widen(x);
          double[] h = Reference.add(xd, attRef.forward(Reference.rmsNorm(xd, n, HIDDEN, attnNorm, eps), SEQS, step));
          double[] expected = Reference.add(h, Reference.mlp(Reference.rmsNorm(h, n, HIDDEN, mlpNorm, eps), n, HIDDEN,
              INTER, Numerics.rounded(gate, st), Numerics.rounded(up, st), Numerics.rounded(down, st), null, null,
              Activation.SILU));
          double err = Numerics.relativeError(y, expected);
          assertTrue(err <= TOLERANCE, "step " + java.util.Arrays.toString(step) + ", seed " + seed + ": rel err " + err);
        }
      }
    }
  }

  @Test
  void sizesThatDoNotFitAreRefusedByTheLibrary() {
    try (Context ctx = Context.host();
        Matrix wq = Matrix.encode(Numerics.sparse(new Random(1), 32, 32, 0.5), 32, 32, DType.F16);
        Matrix wk = Matrix.encode(Numerics.sparse(new Random(2), 20, 32, 0.5), 20, 32, DType.F16)) {
      // 4 heads of 8 need K rows of kvHeads * 8: 20 rows fit no head count
      SpinferException e = assertThrows(SpinferException.class, () -> Attention.create(ctx, wq, wk, wk, wq,
          null, null, null, null, new Attention.Config().numHeads(4).numKvHeads(2)));
      assertEquals(Status.SHAPE_MISMATCH, e.status(), e.toString());
    }
  }
}
