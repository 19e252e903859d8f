package io.spinfer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Matrix.fromArrays against an encoder written here from docs/format.md alone: the
 * library must accept exactly the arrays the spec describes, and reject broken ones.
 */
class FromArraysTest {
  /** TCA-BME arrays of a dense fp16 matrix, per docs/format.md (format version 1). */
  record Encoded(short[] values, long[] bitmaps, long[] groupOffsets) {}

  static Encoded encodeBySpec(short[] dense, int rows, int cols) {
    int gm = (rows + 63) / 64;
    int gk = (cols + 63) / 64;
    long[] bitmaps = new long[gm * gk * 64];
    long[] offsets = new long[gm * gk + 1];
    List<Short> values = new ArrayList<>();
    for (int g = 0; g < gm * gk; ++g) {
      offsets[g] = values.size();
      for (int t = 0; t < 16; ++t) {
        for (int b = 0; b < 4; ++b) { // column-major BitmapTiles: b = bc * 2 + br
          int row0 = (g / gk) * 64 + (t / 4) * 16 + (b % 2) * 8;
          int col0 = (g % gk) * 64 + (t % 4) * 16 + (b / 2) * 8;
          long bitmap = 0;
          for (int bit = 0; bit < 64; ++bit) {
            int r = row0 + bit / 8;
            int c = col0 + bit % 8;
            if (r < rows && c < cols && (dense[r * cols + c] & 0x7fff) != 0) {
              bitmap |= 1L << bit;
              values.add(dense[r * cols + c]);
            }
          }
          bitmaps[(g * 16 + t) * 4 + b] = bitmap;
        }
      }
      while (values.size() % 8 != 0) values.add((short) 0);
    }
    offsets[gm * gk] = values.size();
    short[] v = new short[values.size()];
    for (int i = 0; i < v.length; ++i) v[i] = values.get(i);
    return new Encoded(v, bitmaps, offsets);
  }

  @Test
  void specEncodedArraysDecodeBackToTheMatrix() {
    long seed = Numerics.freshSeed();
    int[][] shapes = {{1, 1}, {17, 70}, {64, 64}, {130, 65}};
    for (int[] shape : shapes) {
      int rows = shape[0], cols = shape[1];
      short[] dense = Numerics.bits(Numerics.sparse(new Random(seed), rows, cols, 0.6), DType.F16);
      Encoded e = encodeBySpec(dense, rows, cols);
      try (Matrix w = Matrix.fromArrays(rows, cols, DType.F16, Spinfer.FORMAT_VERSION, e.values(),
          e.bitmaps(), e.groupOffsets())) {
        assertArrayEquals(dense, w.decodeShorts(DType.F16), "seed " + seed + ", " + rows + "x" + cols);
        long nnz = 0;
        for (long bitmap : e.bitmaps()) nnz += Long.bitCount(bitmap);
        assertEquals(nnz, w.nnz());
      }
      // and the library's own encoder produces a matrix with the same content
      try (Matrix w = Matrix.encode(dense, DType.F16, rows, cols, DType.F16)) {
        MatrixInfo info = w.info();
        assertEquals(info.bytes(),
            2L * e.values().length + 8L * e.bitmaps().length + 8L * e.groupOffsets().length,
            "bytes as docs/format.md counts them");
        // the array lengths the spec encoder gave, as the info reports them
        assertEquals(e.values().length, info.valuesCount());
        assertEquals(e.bitmaps().length, info.bitmapsCount());
        assertEquals(e.groupOffsets().length, info.offsetsCount());
      }
    }
  }

  @Test
  void brokenArraysAreRejectedWithTheLibrarysMessage() {
    int rows = 20, cols = 30;
    short[] dense = Numerics.bits(Numerics.sparse(new Random(7), rows, cols, 0.5), DType.F16);
    Encoded e = encodeBySpec(dense, rows, cols);

    long[] flipped = e.bitmaps().clone();
    flipped[0] ^= Long.lowestOneBit(flipped[0] == 0 ? 1 : flipped[0]); // popcounts no longer match the values
    assertCorrupt(() -> Matrix.fromArrays(rows, cols, DType.F16, 1, e.values(), flipped, e.groupOffsets()));

    long[] outside = e.bitmaps().clone();
    outside[outside.length - 1] |= 1L << 63; // an element outside the 20 x 30 matrix
    assertCorrupt(() -> Matrix.fromArrays(rows, cols, DType.F16, 1, e.values(), outside, e.groupOffsets()));

    long[] shortOffsets = java.util.Arrays.copyOf(e.groupOffsets(), e.groupOffsets().length - 1);
    assertCorrupt(() -> Matrix.fromArrays(rows, cols, DType.F16, 1, e.values(), e.bitmaps(), shortOffsets));

    SpinferException version = assertThrows(SpinferException.class,
        () -> Matrix.fromArrays(rows, cols, DType.F16, 99, e.values(), e.bitmaps(), e.groupOffsets()));
    assertEquals(Status.UNSUPPORTED_VERSION, version.status());
    assertFalse(version.getMessage().isEmpty());
  }

  private static void assertCorrupt(org.junit.jupiter.api.function.Executable call) {
    SpinferException e = assertThrows(SpinferException.class, call);
    assertEquals(Status.CORRUPT_DATA, e.status(), e.getMessage());
    assertFalse(e.getMessage().isEmpty());
  }
}
