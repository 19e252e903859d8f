package io.spinfer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The cross-language scenario of examples/SCENARIO.md: every binding asserts these numbers. */
class ScenarioTest {
  static final int M = 96;
  static final int K = 200;
  static final int N = 5;

  @TempDir Path tmp;

  @Test
  void scenarioGivesTheSharedChecksumExactly() {
    float[] w = new float[M * K];
    long nonZeros = 0;
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < K; ++j) {
        if ((i * 7 + j * 13) % 10 < 5) {
          w[i * K + j] = (float) (((i * 131 + j * 71) % 17 - 8) / 8.0);
        }
        if (w[i * K + j] != 0.0f) ++nonZeros;
      }
    }
    float[] x = new float[N * K];
    for (int n = 0; n < N; ++n) {
      for (int j = 0; j < K; ++j) x[n * K + j] = (float) (((n * 29 + j * 37) % 11 - 5) / 4.0);
    }
    float[] bias = new float[M];
    for (int i = 0; i < M; ++i) bias[i] = (float) ((i % 7 - 3) / 2.0);

    Path file = tmp.resolve("scenario.safetensors");
    float[] y;
    try (Matrix encoded = Matrix.encode(w, M, K, DType.F16)) {
      assertEquals(9036, nonZeros, "the scenario's own count");
      assertEquals(nonZeros, encoded.nnz(), "library nnz");
      encoded.save(file, "w");
    }
    try (Context ctx = Context.host(); Matrix loaded = Matrix.load(file, "w")) {
      assertEquals(nonZeros, loaded.nnz());
      y = Numerics.poisoned(N * M);
      ctx.spmm(loaded, x, N, bias, y);
    }

    double[] ref = Numerics.reference(x, N, w, M, K, bias);
    float[] refAsFloat = new float[ref.length];
    for (int i = 0; i < ref.length; ++i) refAsFloat[i] = (float) ref[i];
    assertArrayEquals(refAsFloat, y, 0.0f, "every product is exact, so Y == ref exactly");
    double checksum = 0.0;
    for (float v : y) checksum += v;
    assertEquals("-26.937500", String.format(java.util.Locale.ROOT, "%.6f", checksum));
  }
}
