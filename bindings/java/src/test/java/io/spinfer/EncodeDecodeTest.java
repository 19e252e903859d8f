package io.spinfer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import java.util.stream.Stream;

/** Encode then decode gives back the storage-dtype rounding of the input, for odd shapes. */
class EncodeDecodeTest {
  static Stream<Arguments> shapes() {
    return Stream.of(
        Arguments.of(1, 1, 0.0), Arguments.of(7, 13, 0.5), Arguments.of(64, 64, 0.7),
        Arguments.of(65, 129, 0.9), Arguments.of(100, 37, 0.3), Arguments.of(130, 200, 0.99));
  }

  @ParameterizedTest
  @MethodSource("shapes")
  void floatArrayRoundTripsForBothStorageDtypes(int rows, int cols, double sparsity) {
    long seed = Numerics.freshSeed();
    float[] dense = Numerics.sparse(new Random(seed), rows, cols, sparsity);
    for (DType storage : new DType[] {DType.F16, DType.BF16}) {
      float[] expected = Numerics.rounded(dense, storage);
      try (Matrix w = Matrix.encode(dense, rows, cols, storage)) {
        String where = "seed " + seed + ", " + storage;
        assertEquals(rows, w.rows(), where);
        assertEquals(cols, w.cols(), where);
        assertEquals(storage, w.dtype(), where);
        assertEquals(Location.HOST, w.location(), where);
        assertArrayEquals(expected, w.decodeFloats(), 0.0f, where);
        assertArrayEquals(Numerics.bits(expected, storage), w.decodeShorts(storage), where);
        w.validate();

        MatrixInfo info = w.info();
        long nnz = Numerics.countNonZero(expected);
        assertEquals(nnz, info.nnz(), where);
        assertEquals(1.0 - (double) nnz / ((double) rows * cols), info.sparsity(), 1e-12, where);
        assertEquals((long) rows * cols * 2, info.denseBytes(), where);
        assertEquals(-1, info.device(), where);
        assertEquals(Spinfer.FORMAT_VERSION, info.formatVersion(), where);
        assertTrue(info.bytes() >= 2 * nnz, where);
        assertEquals((double) info.denseBytes() / info.bytes(), info.compressionRatio(), 1e-9, where);
      }
    }
  }

  @ParameterizedTest
  @MethodSource("shapes")
  void sixteenBitInputsEncodeExactly(int rows, int cols, double sparsity) {
    long seed = Numerics.freshSeed();
    float[] dense = Numerics.sparse(new Random(seed), rows, cols, sparsity);
    for (DType dtype : new DType[] {DType.F16, DType.BF16}) {
      short[] bits = Numerics.bits(dense, dtype);
      try (Matrix w = Matrix.encode(bits, dtype, rows, cols, dtype)) {
        assertArrayEquals(bits, w.decodeShorts(dtype), "seed " + seed + ", " + dtype);
      }
    }
  }

  @ParameterizedTest
  @MethodSource("shapes")
  void directBuffersWithPaddingAndPositionRoundTrip(int rows, int cols, double sparsity) {
    long seed = Numerics.freshSeed();
    Random random = new Random(seed);
    float[] dense = Numerics.sparse(random, rows, cols, sparsity);
    int ld = cols + 3;
    int offset = 5; // the buffers start at position 5: data is read from there
    FloatBuffer in = ByteBuffer.allocateDirect((offset + rows * ld) * 4)
        .order(ByteOrder.nativeOrder()).asFloatBuffer();
    for (int i = 0; i < offset + rows * ld; ++i) in.put(i, Float.NaN); // padding must not be read as data
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) in.put(offset + r * ld + c, dense[r * cols + c]);
    }
    in.position(offset);
    try (Matrix w = Matrix.encode(in, DType.F32, rows, cols, ld, DType.F16)) {
      float[] expected = Numerics.rounded(dense, DType.F16);
      assertEquals(Numerics.countNonZero(expected), w.nnz(), "seed " + seed);

      ShortBuffer out = ByteBuffer.allocateDirect((offset + rows * ld) * 2)
          .order(ByteOrder.nativeOrder()).asShortBuffer();
      short poison = (short) 0x7e00; // an fp16 NaN: every decoded element must overwrite it
      for (int i = 0; i < offset + rows * ld; ++i) out.put(i, poison);
      out.position(offset);
      w.decode(out, DType.F16, ld);
      for (int r = 0; r < rows; ++r) {
        for (int c = 0; c < cols; ++c) {
          assertEquals(Numerics.floatToHalf(expected[r * cols + c]), out.get(offset + r * ld + c),
              "seed " + seed + " at (" + r + ", " + c + ")");
        }
        for (int c = cols; c < ld && r * ld + c < rows * ld; ++c) {
          assertEquals(poison, out.get(offset + r * ld + c), "ld padding is not written");
        }
      }
      for (int i = 0; i < offset; ++i) assertEquals(poison, out.get(i), "before the position is not written");
    }
  }
}
