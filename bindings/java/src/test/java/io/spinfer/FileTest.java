package io.spinfer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Safetensors round trips, names, and the loader's refusal of damaged files. */
class FileTest {
  @TempDir Path tmp;

  @Test
  void severalMatricesRoundTripThroughOneFile() {
    long seed = Numerics.freshSeed();
    Random random = new Random(seed);
    float[] a = Numerics.sparse(random, 40, 70, 0.5);
    float[] b = Numerics.sparse(random, 129, 33, 0.8);
    Path file = tmp.resolve("two.safetensors");
    try (Matrix wa = Matrix.encode(a, 40, 70, DType.F16); Matrix wb = Matrix.encode(b, 129, 33, DType.BF16)) {
      Map<String, Matrix> matrices = new LinkedHashMap<>();
      matrices.put("layer1.fc", wb); // names are listed sorted, whatever the save order
      matrices.put("layer0.fc", wa);
      MatrixFile.save(file, matrices);
    }
    assertEquals(List.of("layer0.fc", "layer1.fc"), MatrixFile.names(file));
    try (Matrix wa = MatrixFile.load(file, "layer0.fc"); Matrix wb = Matrix.load(file, "layer1.fc")) {
      assertEquals(DType.F16, wa.dtype());
      assertEquals(DType.BF16, wb.dtype());
      assertArrayEquals(Numerics.rounded(a, DType.F16), wa.decodeFloats(), 0.0f, "seed " + seed);
      assertArrayEquals(Numerics.rounded(b, DType.BF16), wb.decodeFloats(), 0.0f, "seed " + seed);
    }
    SpinferException e = assertThrows(SpinferException.class, () -> MatrixFile.load(file, "layer2.fc"));
    assertEquals(Status.NOT_FOUND, e.status());
    assertTrue(e.getMessage().contains("layer2.fc"), e.getMessage());
  }

  @Test
  void aSingleMatrixLoadsWithoutItsName() {
    Path file = tmp.resolve("one.safetensors");
    float[] dense = Numerics.sparse(new Random(Numerics.freshSeed()), 10, 20, 0.5);
    try (Matrix w = Matrix.encode(dense, 10, 20, DType.F16)) {
      w.save(file, "only");
    }
    try (Matrix w = MatrixFile.load(file, null)) {
      assertArrayEquals(Numerics.rounded(dense, DType.F16), w.decodeFloats(), 0.0f);
    }
  }

  @Test
  void longNamesAreReadBack() {
    String name = "model.layers.31.mlp.down_proj.weight." + "x".repeat(100);
    Path file = tmp.resolve("long.safetensors");
    try (Matrix w = Matrix.encode(new float[] {1, 0, 0, 2}, 2, 2, DType.F16)) {
      w.save(file, name);
    }
    assertEquals(List.of(name), MatrixFile.names(file));
  }

  @Test
  void missingFileIsAnIoError() {
    SpinferException e = assertThrows(SpinferException.class,
        () -> MatrixFile.load(tmp.resolve("absent.safetensors"), "w"));
    assertEquals(Status.IO_ERROR, e.status());
    assertFalse(e.getMessage().isEmpty());
  }

  @Test
  void damagedFilesAreRefused() throws IOException {
    Path file = tmp.resolve("good.safetensors");
    try (Matrix w = Matrix.encode(Numerics.sparse(new Random(3), 64, 64, 0.5), 64, 64, DType.F16)) {
      w.save(file, "w");
    }
    byte[] good = Files.readAllBytes(file);

    Path truncated = tmp.resolve("truncated.safetensors");
    Files.write(truncated, java.util.Arrays.copyOf(good, good.length / 2));
    assertRefused(truncated);

    Path garbage = tmp.resolve("garbage.safetensors");
    Files.write(garbage, "this is not a safetensors file at all".getBytes(StandardCharsets.UTF_8));
    assertRefused(garbage);

    // Clear one set bit of the first bitmap: the stored values no longer match the bitmaps.
    ByteBuffer bytes = ByteBuffer.wrap(good.clone()).order(ByteOrder.LITTLE_ENDIAN);
    long headerLength = bytes.getLong(0);
    String header = new String(good, 8, (int) headerLength, StandardCharsets.UTF_8);
    Matcher m = Pattern.compile("\"w\\.bitmaps\"\\s*:\\s*\\{[^}]*\"data_offsets\"\\s*:\\s*\\[(\\d+)\\s*,").matcher(header);
    assertTrue(m.find(), header);
    int at = (int) (8 + headerLength + Long.parseLong(m.group(1)));
    long word = bytes.getLong(at);
    assertTrue(word != 0, "the first BitmapTile of a half-dense matrix has non-zeros");
    bytes.putLong(at, word & (word - 1));
    Path flipped = tmp.resolve("flipped.safetensors");
    Files.write(flipped, bytes.array());
    SpinferException e = assertThrows(SpinferException.class, () -> MatrixFile.load(flipped, "w"));
    assertEquals(Status.CORRUPT_DATA, e.status(), e.getMessage());
  }

  private static void assertRefused(Path file) {
    SpinferException e = assertThrows(SpinferException.class, () -> MatrixFile.load(file, "w"));
    assertTrue(e.status() == Status.CORRUPT_DATA || e.status() == Status.IO_ERROR, e.toString());
    assertFalse(e.getMessage().isEmpty());
  }
}
