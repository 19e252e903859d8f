// The cross-language scenario (examples/SCENARIO.md) in Java: encode a fixed sparse W,
// save and reload it, compute Y = X * W^T + b on a host context, and check Y exactly
// against a float64 reference. Exits with status 1 if anything disagrees.
//
// Run (Java 11+ runs a single source file directly):
//   java -cp bindings/java/target/spinfer-0.1.0.jar \
//        -Dspinfer.library.path=build/bindings/java examples/java/Scenario.java
import io.spinfer.Context;
import io.spinfer.DType;
import io.spinfer.Matrix;
import io.spinfer.SpinferException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

public class Scenario {
  static final int M = 96, K = 200, N = 5;

  public static void main(String[] args) throws Exception {
    // 1. W [M, K]: exactly half the entries kept, every value a multiple of 1/8.
    float[] w = new float[M * K];
    long nonZeros = 0;
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < K; ++j) {
        if ((i * 7 + j * 13) % 10 < 5) w[i * K + j] = (float) (((i * 131 + j * 71) % 17 - 8) / 8.0);
        if (w[i * K + j] != 0.0f) ++nonZeros;
      }
    }
    // 4-5. X [N, K] and the bias [M].
    float[] x = new float[N * K];
    for (int n = 0; n < N; ++n) {
      for (int j = 0; j < K; ++j) x[n * K + j] = (float) (((n * 29 + j * 37) % 11 - 5) / 4.0);
    }
    float[] bias = new float[M];
    for (int i = 0; i < M; ++i) bias[i] = (float) ((i % 7 - 3) / 2.0);

    Path dir = Files.createTempDirectory("spinfer-java");
    Path file = dir.resolve("scenario.safetensors");
    float[] y;
    try {
      // 2-3. Encode as F16, check nnz, save under "w", load back.
      try (Matrix encoded = Matrix.encode(w, M, K, DType.F16)) {
        check(encoded.nnz() == nonZeros, "nnz: library " + encoded.nnz() + ", counted " + nonZeros);
        check(nonZeros == 9036, "nnz " + nonZeros + " != 9036");
        encoded.save(file, "w");
      }
      // 5. Y = X * W^T + b with F32 data on a host context.
      try (Context ctx = Context.host(); Matrix loaded = Matrix.load(file, "w")) {
        y = ctx.spmm(loaded, x, N, bias);
      }
    } catch (SpinferException e) {
      System.err.println("spinfer failed: " + e);
      System.exit(1);
      return;
    } finally {
      Files.deleteIfExists(file);
      Files.deleteIfExists(dir);
    }

    // 6. float64 reference; fp32 accumulation is exact here, so Y must equal it exactly.
    double checksum = 0.0;
    for (int n = 0; n < N; ++n) {
      for (int i = 0; i < M; ++i) {
        double ref = bias[i];
        for (int j = 0; j < K; ++j) ref += (double) x[n * K + j] * w[i * K + j];
        check(y[n * M + i] == ref, "Y[" + n + "][" + i + "] = " + y[n * M + i] + ", reference " + ref);
        checksum += y[n * M + i];
      }
    }
    String printed = String.format(Locale.ROOT, "%.6f", checksum);
    check(printed.equals("-26.937500"), "checksum " + printed + ", every language gives -26.937500");
    System.out.println("nnz = " + nonZeros);
    System.out.println("checksum = " + printed);
  }

  static void check(boolean ok, String what) {
    if (!ok) {
      System.err.println("FAILED: " + what);
      System.exit(1);
    }
  }
}
