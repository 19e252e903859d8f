package io.spinfer;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.spinfer.jni.SpinferNative;
import io.spinfer.jni.spinfer_dtype_t;
import io.spinfer.jni.spinfer_status_t;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.function.Executable;

/**
 * Bad input raises SpinferException with a status and a message naming the problem:
 * the library's own message wherever the library can see the problem, and never a crash.
 */
class ErrorTest {
  static final int M = 24;
  static final int K = 40;

  Context ctx;
  Matrix w;

  @BeforeEach
  void open() {
    ctx = Context.host();
    w = Matrix.encode(Numerics.sparse(new Random(11), M, K, 0.5), M, K, DType.F16);
  }

  @AfterEach
  void close() {
    w.close();
    ctx.close();
  }

  static SpinferException fails(Status status, Executable call) {
    SpinferException e = assertThrows(SpinferException.class, call);
    assertEquals(status, e.status(), e.toString());
    assertFalse(e.getMessage().isBlank(), "a message names the problem");
    return e;
  }

  static void contains(SpinferException e, String word) {
    assertTrue(e.getMessage().contains(word), "message '" + e.getMessage() + "' names " + word);
  }

  // ---- the message is the library's, verbatim --------------------------------------

  @Test
  void theExceptionCarriesTheLibrarysMessageVerbatim() {
    long[] out = new long[1];
    spinfer_status_t raw = SpinferNative.matrix_encode(out, 0, spinfer_dtype_t.SPINFER_DTYPE_F32, 4, 4, 4,
        spinfer_dtype_t.SPINFER_DTYPE_F16);
    String libraryMessage = SpinferNative.last_error_message();
    assertEquals(spinfer_status_t.SPINFER_STATUS_INVALID_ARGUMENT, raw);
    assertFalse(libraryMessage.isEmpty());

    SpinferException e = fails(Status.INVALID_ARGUMENT, () -> Matrix.encode((float[]) null, 4, 4, DType.F16));
    assertEquals(libraryMessage, e.getMessage());
  }

  // ---- wrong shapes -----------------------------------------------------------------

  @Test
  void leadingDimensionBelowTheRowLengthIsRefusedByTheLibrary() {
    FloatBuffer x = direct(4 * K);
    FloatBuffer y = direct(4 * M);
    SpinferException e = assertThrows(SpinferException.class,
        () -> ctx.spmm(w, x, 4, K - 1, null, y, M, DType.F32));
    assertTrue(e.status() == Status.SHAPE_MISMATCH || e.status() == Status.INVALID_ARGUMENT, e.toString());
    contains(e, "ldx");
    SpinferException ey = assertThrows(SpinferException.class,
        () -> ctx.spmm(w, x, 4, K, null, y, M - 1, DType.F32));
    contains(ey, "ldy");
  }

  @Test
  void negativeSizesAreRefusedByTheLibrary() {
    SpinferException e = assertThrows(SpinferException.class, () -> ctx.spmm(w, new float[0], -1, null));
    assertTrue(e.status() == Status.SHAPE_MISMATCH || e.status() == Status.INVALID_ARGUMENT, e.toString());
    SpinferException enc = assertThrows(SpinferException.class,
        () -> Matrix.encode(new float[0], -3, 4, DType.F16));
    assertTrue(enc.status() == Status.SHAPE_MISMATCH || enc.status() == Status.INVALID_ARGUMENT, enc.toString());
    SpinferException dec = assertThrows(SpinferException.class, () -> w.decode(direct(M * K), DType.F32, K - 1));
    assertTrue(dec.status() == Status.SHAPE_MISMATCH || dec.status() == Status.INVALID_ARGUMENT, dec.toString());
  }

  @Test
  void arraysThatDisagreeWithTheirShapesAreRefused() {
    contains(fails(Status.SHAPE_MISMATCH, () -> ctx.spmm(w, new float[3 * K + 1], 3, null)), "x");
    contains(fails(Status.SHAPE_MISMATCH, () -> ctx.spmm(w, new float[3 * K], 3, new float[M - 1])), "bias");
    contains(fails(Status.SHAPE_MISMATCH,
        () -> ctx.spmm(w, new float[3 * K], 3, null, new float[3 * M - 1])), "y");
    contains(fails(Status.SHAPE_MISMATCH, () -> Matrix.encode(new float[11], 3, 4, DType.F16)), "dense");
  }

  @Test
  void buffersTooSmallForTheirShapesAreRefusedBeforeAnyNativeAccess() {
    contains(fails(Status.SHAPE_MISMATCH,
        () -> ctx.spmm(w, direct(4 * K - 1), 4, K, null, direct(4 * M), M, DType.F32)), "x");
    contains(fails(Status.SHAPE_MISMATCH,
        () -> ctx.spmm(w, direct(4 * K), 4, K, null, direct(4 * M - 1), M, DType.F32)), "y");
    FloatBuffer positioned = direct(4 * M);
    positioned.position(1); // the remaining elements are what counts
    contains(fails(Status.SHAPE_MISMATCH,
        () -> ctx.spmm(w, direct(4 * K), 4, K, null, positioned, M, DType.F32)), "y");
    contains(fails(Status.SHAPE_MISMATCH, () -> w.decode(direct(M * K - 1), DType.F32, K)), "dense");
  }

  // ---- wrong dtypes -----------------------------------------------------------------

  @Test
  void f32StorageIsRefusedByTheLibrary() {
    fails(Status.UNSUPPORTED_DTYPE, () -> Matrix.encode(new float[] {1, 2, 3, 4}, 2, 2, DType.F32));
  }

  @Test
  void dataWhoseElementSizeIsNotTheDtypesIsRefused() {
    fails(Status.UNSUPPORTED_DTYPE,
        () -> ctx.spmm(w, new short[K], 1, null, new short[M], DType.F32));
    fails(Status.UNSUPPORTED_DTYPE, () -> Matrix.encode(new short[4], DType.F32, 2, 2, DType.F16));
    fails(Status.UNSUPPORTED_DTYPE,
        () -> ctx.spmm(w, direct(K), 1, K, null, direct(M), M, DType.F16)); // FloatBuffer as fp16
    fails(Status.UNSUPPORTED_DTYPE, () -> w.decodeShorts(DType.F32));
  }

  // ---- closed handles ---------------------------------------------------------------

  @Test
  void closedHandlesAreRefusedAndCloseIsIdempotent() {
    Matrix other = Matrix.encode(new float[] {1, 0, 0, 1}, 2, 2, DType.F16);
    other.close();
    assertTrue(other.isClosed());
    assertDoesNotThrow(other::close);
    contains(fails(Status.INVALID_ARGUMENT, () -> ctx.spmm(other, new float[2], 1, null)), "closed");
    contains(fails(Status.INVALID_ARGUMENT, other::info), "closed");
    contains(fails(Status.INVALID_ARGUMENT, other::decodeFloats), "closed");
    contains(fails(Status.INVALID_ARGUMENT, () -> other.save(Path.of("never-written"), "w")), "closed");

    Context closed = Context.host();
    closed.close();
    assertDoesNotThrow(closed::close);
    contains(fails(Status.INVALID_ARGUMENT, () -> closed.spmm(w, new float[K], 1, null)), "Context is closed");
  }

  @Test
  void tryWithResourcesClosesTheHandle() {
    Matrix escaped;
    try (Matrix m = Matrix.encode(new float[] {1, 0, 0, 1}, 2, 2, DType.F16)) {
      escaped = m;
      assertFalse(m.isClosed());
    }
    assertTrue(escaped.isClosed());
  }

  // ---- null -------------------------------------------------------------------------

  @Test
  void nullArgumentsAreNamedByTheLibrary() {
    contains(fails(Status.INVALID_ARGUMENT, () -> ctx.spmm(null, new float[K], 1, null)), "w");
    contains(fails(Status.INVALID_ARGUMENT, () -> ctx.spmm(w, (float[]) null, 1, null, new float[M])), "x");
    contains(fails(Status.INVALID_ARGUMENT, () -> ctx.spmm(w, new float[K], 1, null, (float[]) null)), "y");
    contains(fails(Status.INVALID_ARGUMENT,
        () -> ctx.spmm(w, null, 1, K, null, direct(M), M, DType.F32)), "x");
    fails(Status.INVALID_ARGUMENT, () -> MatrixFile.load(null, "w"));
    fails(Status.INVALID_ARGUMENT, () -> Matrix.fromArrays(2, 2, DType.F16, 1, null, null, null));
  }

  @Test
  void nullEnumsAreRefused() {
    contains(fails(Status.INVALID_ARGUMENT, () -> Context.create(null)), "backend");
    contains(fails(Status.INVALID_ARGUMENT, () -> Matrix.encode(new float[4], 2, 2, null)), "dtype");
    contains(fails(Status.INVALID_ARGUMENT,
        () -> ctx.spmm(w, direct(K), 1, K, null, direct(M), M, null)), "dtype");
  }

  // ---- buffers the library cannot use -----------------------------------------------

  @Test
  void heapWrongOrderAndReadOnlyBuffersAreRefused() {
    FloatBuffer heap = FloatBuffer.allocate(K);
    contains(fails(Status.INVALID_ARGUMENT, () -> ctx.spmm(w, heap, 1, K, null, direct(M), M, DType.F32)),
        "direct");
    ByteOrder foreign = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN ? ByteOrder.BIG_ENDIAN
        : ByteOrder.LITTLE_ENDIAN;
    FloatBuffer swapped = ByteBuffer.allocateDirect(4 * K).order(foreign).asFloatBuffer();
    contains(fails(Status.INVALID_ARGUMENT,
        () -> ctx.spmm(w, swapped, 1, K, null, direct(M), M, DType.F32)), "byte order");
    FloatBuffer readOnly = direct(M).asReadOnlyBuffer();
    contains(fails(Status.INVALID_ARGUMENT,
        () -> ctx.spmm(w, direct(K), 1, K, null, readOnly, M, DType.F32)), "read-only");
  }

  // ---- backends and locations -------------------------------------------------------

  @Test
  void cudaWithoutCudaIsRefused() {
    if (Spinfer.hasCuda()) {
      // A CUDA build: refused only without a GPU (the CI machine has none).
      try (Context cuda = Context.create(Backend.CUDA)) {
        assumeFalse(true, "a GPU is present: nothing to refuse");
      } catch (SpinferException e) {
        assertEquals(Status.NO_DEVICE, e.status(), e.toString());
      }
    } else {
      fails(Status.NOT_SUPPORTED, () -> Context.create(Backend.CUDA));
      try (Context auto = Context.create(Backend.AUTO)) {
        assertEquals(Backend.HOST, auto.backend());
      }
    }
  }

  @Test
  void deviceOperationsOnAHostContextAreRefused() {
    SpinferException e = assertThrows(SpinferException.class, () -> ctx.upload(w, 0));
    assertTrue(e.status() == Status.NOT_SUPPORTED || e.status() == Status.WRONG_LOCATION, e.toString());
    assertFalse(e.getMessage().isBlank());
    fails(Status.WRONG_LOCATION, () -> ctx.spmmDevice(w, 0, 1, K, 0, 0, M, DType.F16, null, 0));
  }

  private static FloatBuffer direct(int floats) {
    return ByteBuffer.allocateDirect(floats * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
  }
}
