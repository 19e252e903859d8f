package io.spinfer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tiny random LLaMA-style model written from Java (config.json, dense tensors,
 * spinfer matrices), loaded, and run: prefill and decode logits against a float64
 * reference model, greedy generation against the library's own step-by-step arg-max.
 */
class ModelTest {
  static final int VOCAB = 40, HIDDEN = 32, LAYERS = 2, HEADS = 4, KV_HEADS = 2, INTER = 64;
  static final double EPS = 1e-6;
  /**
   * Weights are fp16-exact by construction and the host backend keeps activations and
   * the KV cache in fp32: measured logits errors are about 5e-7.
   */
  static final double TOLERANCE = 1e-5;

  @TempDir Path dir;

  /** Float64 reference of the whole model, with its own KV caches. */
  static final class ReferenceModel {
    float[] embed, finalNorm, lmHead;
    float[][] attnNorm = new float[LAYERS][], mlpNorm = new float[LAYERS][];
    float[][] gate = new float[LAYERS][], up = new float[LAYERS][], down = new float[LAYERS][];
    AttentionReference[] attention = new AttentionReference[LAYERS];

    /** Logits [n, VOCAB] of the step's tokens. */
    double[] forward(int[] tokens, int[] seqIds, int[] counts) {
      int n = tokens.length;
      double[] h = new double[n * HIDDEN];
      for (int t = 0; t < n; ++t) for (int j = 0; j < HIDDEN; ++j) h[t * HIDDEN + j] = embed[tokens[t] * HIDDEN + j];
      for (int l = 0; l < LAYERS; ++l) {
        h = Reference.add(h, attention[l].forward(Reference.rmsNorm(h, n, HIDDEN, attnNorm[l], EPS), seqIds, counts));
        h = Reference.add(h, Reference.mlp(Reference.rmsNorm(h, n, HIDDEN, mlpNorm[l], EPS), n, HIDDEN, INTER,
            gate[l], up[l], down[l], null, null, Activation.SILU));
      }
      return Reference.linear(Reference.rmsNorm(h, n, HIDDEN, finalNorm, EPS), n, lmHead, VOCAB, HIDDEN, null);
    }
  }

  /** Writes the model directory and returns its float64 twin (weights as stored in fp16). */
  ReferenceModel writeModel(Random random) throws IOException {
    int qd = HEADS * (HIDDEN / HEADS), kd = KV_HEADS * (HIDDEN / HEADS);
    Files.writeString(dir.resolve("config.json"), "{\"model_type\":\"llama\",\"vocab_size\":" + VOCAB
        + ",\"hidden_size\":" + HIDDEN + ",\"num_hidden_layers\":" + LAYERS + ",\"num_attention_heads\":" + HEADS
        + ",\"num_key_value_heads\":" + KV_HEADS + ",\"intermediate_size\":" + INTER
        + ",\"max_position_embeddings\":64,\"rms_norm_eps\":" + EPS + ",\"torch_dtype\":\"float16\""
        + ",\"tie_word_embeddings\":false,\"hidden_act\":\"silu\"}", StandardCharsets.UTF_8);
    ReferenceModel ref = new ReferenceModel();
    DenseSafetensors dense = new DenseSafetensors();
    ref.embed = Numerics.rounded(Numerics.dense(random, VOCAB * HIDDEN), DType.F16); // exact in fp16
    dense.put("model.embed_tokens.weight", ref.embed, VOCAB, HIDDEN);
    ref.finalNorm = Numerics.dense(random, HIDDEN);
    dense.put("model.norm.weight", ref.finalNorm, HIDDEN);
    Map<String, float[]> sparse = new LinkedHashMap<>();
    Map<String, int[]> shapes = new LinkedHashMap<>();
    for (int l = 0; l < LAYERS; ++l) {
      String p = "model.layers." + l + ".";
      ref.attnNorm[l] = Numerics.dense(random, HIDDEN);
      ref.mlpNorm[l] = Numerics.dense(random, HIDDEN);
      dense.put(p + "input_layernorm.weight", ref.attnNorm[l], HIDDEN);
      dense.put(p + "post_attention_layernorm.weight", ref.mlpNorm[l], HIDDEN);
      float[] q = put(sparse, shapes, p + "self_attn.q_proj.weight", random, qd, HIDDEN);
      float[] k = put(sparse, shapes, p + "self_attn.k_proj.weight", random, kd, HIDDEN);
      float[] v = put(sparse, shapes, p + "self_attn.v_proj.weight", random, kd, HIDDEN);
      float[] o = put(sparse, shapes, p + "self_attn.o_proj.weight", random, HIDDEN, qd);
      ref.gate[l] = put(sparse, shapes, p + "mlp.gate_proj.weight", random, INTER, HIDDEN);
      ref.up[l] = put(sparse, shapes, p + "mlp.up_proj.weight", random, INTER, HIDDEN);
      ref.down[l] = put(sparse, shapes, p + "mlp.down_proj.weight", random, HIDDEN, INTER);
      ref.attention[l] = new AttentionReference(HIDDEN, HEADS, KV_HEADS, q, k, v, o, null, null, null, null, true, 10000.0);
    }
    ref.lmHead = put(sparse, shapes, "lm_head.weight", random, VOCAB, HIDDEN);
    dense.write(dir.resolve("dense.safetensors"));

    Map<String, Matrix> matrices = new LinkedHashMap<>();
    try {
      for (Map.Entry<String, float[]> e : sparse.entrySet()) {
        int[] s = shapes.get(e.getKey());
        matrices.put(e.getKey(), Matrix.encode(e.getValue(), s[0], s[1], DType.F16));
      }
      MatrixFile.save(dir.resolve("matrices.safetensors"), matrices);
    } finally {
      for (Matrix m : matrices.values()) m.close();
    }
    return ref;
  }

  /** A random sparse matrix, already fp16-exact, recorded for the file; returns it. */
  private static float[] put(Map<String, float[]> sparse, Map<String, int[]> shapes, String name, Random random,
      int rows, int cols) {
    float[] w = Numerics.rounded(Numerics.sparse(random, rows, cols, 0.5), DType.F16);
    sparse.put(name, w);
    shapes.put(name, new int[] {rows, cols});
    return w;
  }

  static int argmax(float[] logits, int offset) {
    int best = 0;
    for (int i = 1; i < VOCAB; ++i) if (logits[offset + i] > logits[offset + best]) best = i;
    return best;
  }

  static void assertLogits(float[] logits, double[] ref, long seed, String what) {
    double err = Numerics.relativeError(logits, ref);
    assertTrue(err <= TOLERANCE, what + ", seed " + seed + ": rel err " + err);
  }

  @Test
  void prefillDecodeAndGreedyGeneration() throws IOException {
    long seed = Numerics.freshSeed();
    Random random = new Random(seed);
    ReferenceModel ref = writeModel(random);
    int[] prompt = {3, 17, 0, 39, 8};
    try (Context ctx = Context.host(); Model model = Model.load(ctx, dir, new Model.Config().maxSequences(2))) {
      ModelInfo info = model.info();
      assertEquals(Arch.LLAMA, info.arch());
      assertEquals(VOCAB, info.vocabSize());
      assertEquals(HIDDEN, info.hiddenSize());
      assertEquals(LAYERS, info.numLayers());
      assertEquals(KV_HEADS, info.numKvHeads());
      assertEquals(DType.F16, info.dtype());
      assertTrue(info.weightBytes() < info.denseWeightBytes(), info.toString());

      // prefill: logits of the last prompt token
      float[] logits = model.prefill(0, prompt);
      double[] all = ref.forward(prompt, new int[] {0}, new int[] {prompt.length});
      assertLogits(logits, java.util.Arrays.copyOfRange(all, (prompt.length - 1) * VOCAB, prompt.length * VOCAB),
          seed, "prefill");
      // three decode steps, each feeding the arg-max back
      int[] expected = new int[4];
      expected[0] = argmax(logits, 0);
      for (int s = 1; s < 4; ++s) {
        float[] step = model.decodeStep(new int[] {0}, new int[] {expected[s - 1]});
        assertLogits(step, ref.forward(new int[] {expected[s - 1]}, new int[] {0}, new int[] {1}), seed, "decode " + s);
        expected[s] = argmax(step, 0);
      }
      assertEquals(prompt.length + 3, model.sequenceLength(0));

      // greedy generation on another slot repeats those arg-max steps exactly
      int[] generated = model.generateGreedy(1, prompt, 4, -1);
      assertArrayEquals(expected, generated);
      assertEquals(prompt.length + 3, model.sequenceLength(1), "the last generated token is not fed back");
      // ...and stops after the end-of-sequence token
      model.releaseSequence(1);
      assertEquals(0, model.sequenceLength(1));
      int eos = expected[1];
      int stop = 0;
      while (expected[stop] != eos) ++stop; // the first occurrence: expected[0] may already be it
      assertArrayEquals(java.util.Arrays.copyOf(expected, stop + 1), model.generateGreedy(1, prompt, 4, eos));

      SpinferException bad = assertThrows(SpinferException.class, () -> model.prefill(0, new int[] {VOCAB}));
      assertEquals(Status.INVALID_ARGUMENT, bad.status());
      assertTrue(bad.getMessage().contains("vocabulary"), bad.getMessage());
    }
  }

  @Test
  void missingOrBrokenModelDirectoriesAreRefused() throws IOException {
    try (Context ctx = Context.host()) {
      SpinferException missing = assertThrows(SpinferException.class,
          () -> Model.load(ctx, dir.resolve("absent"), null));
      assertTrue(missing.status() == Status.IO_ERROR || missing.status() == Status.NOT_FOUND, missing.toString());
      Files.writeString(dir.resolve("config.json"), "{\"model_type\":\"llama\"}");
      SpinferException broken = assertThrows(SpinferException.class, () -> Model.load(ctx, dir, null));
      assertTrue(broken.status() == Status.CORRUPT_DATA || broken.status() == Status.NOT_FOUND, broken.toString());
      assertTrue(!broken.getMessage().isBlank());
    }
  }
}
