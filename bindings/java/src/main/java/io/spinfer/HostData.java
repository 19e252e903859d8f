package io.spinfer;

import io.spinfer.jni.SpinferNative;
import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;

/**
 * Host data for native calls: addresses of direct NIO buffers, and direct copies of
 * Java arrays. The library cannot know how large a Java buffer is, so the checks
 * that keep it inside the buffer are made here; every other check (shapes against
 * each other, dtypes, NULL) is left to the library, which names the problem.
 */
final class HostData {
  private HostData() {}

  /** Result of {@link #bytesOf} when the shape is invalid: the library will reject it. */
  static final long INVALID_SHAPE = -1;

  /**
   * Bytes a row-major [rows, cols] array with leading dimension ld occupies, or
   * INVALID_SHAPE when the shape is not one the library accepts (then no buffer check
   * is made and the library reports the shape).
   */
  static long bytesOf(long rows, long cols, long ld, DType dtype) {
    if (rows < 0 || cols < 0 || ld < cols) return INVALID_SHAPE;
    if (rows == 0 || cols == 0) return 0;
    try {
      long elements = Math.addExact(Math.multiplyExact(rows - 1, ld), cols);
      return Math.multiplyExact(elements, (long) dtype.sizeBytes());
    } catch (ArithmeticException overflow) {
      return Long.MAX_VALUE; // no buffer is that large: the size check below fails
    }
  }

  /**
   * Address of the first remaining element of the direct buffer {@code buffer}
   * (0 for null, so the library reports the NULL), after checking that it is direct,
   * in native byte order, has elements of {@code dtype}'s size (any size for a
   * ByteBuffer), is writable when written to, and holds at least {@code neededBytes}
   * from its position. The caller keeps {@code buffer} reachable during the call.
   */
  static long address(Buffer buffer, String name, DType dtype, long neededBytes, boolean written) {
    if (buffer == null) return 0;
    if (!buffer.isDirect()) {
      throw Native.error(Status.INVALID_ARGUMENT, name
          + " is not a direct buffer: use ByteBuffer.allocateDirect(...).order(ByteOrder.nativeOrder()) or the array overload");
    }
    if (order(buffer) != ByteOrder.nativeOrder()) {
      throw Native.error(Status.INVALID_ARGUMENT, name + " has byte order " + order(buffer)
          + ", not the native " + ByteOrder.nativeOrder() + ": call order(ByteOrder.nativeOrder())");
    }
    int elementBytes = elementBytes(buffer);
    if (!(buffer instanceof ByteBuffer) && elementBytes != dtype.sizeBytes()) {
      throw Native.error(Status.UNSUPPORTED_DTYPE, name + " is a " + kind(buffer) + " of "
          + elementBytes + "-byte elements but dtype " + dtype + " has " + dtype.sizeBytes()
          + "-byte elements");
    }
    if (written && buffer.isReadOnly()) {
      throw Native.error(Status.INVALID_ARGUMENT, name + " is read-only but is written to");
    }
    long available = (long) buffer.remaining() * elementBytes;
    if (neededBytes != INVALID_SHAPE && available < neededBytes) {
      throw Native.error(Status.SHAPE_MISMATCH, name + " has " + available
          + " bytes from its position but its shape needs " + neededBytes);
    }
    long base = SpinferNative.direct_buffer_address(buffer);
    return base + (long) buffer.position() * elementBytes;
  }

  /** Checks that an array holds exactly the elements its shape says (arrays have ld = cols). */
  static void checkLength(int length, long rows, long cols, String name) {
    if (rows < 0 || cols < 0) return; // the library reports negative sizes
    if ((long) length != rows * cols) {
      throw Native.error(Status.SHAPE_MISMATCH, name + " has " + length + " elements but its shape ["
          + rows + ", " + cols + "] needs " + rows * cols);
    }
  }

  /** A direct native-order copy of {@code values} (null stays null). */
  static ByteBuffer copyOf(float[] values) {
    if (values == null) return null;
    ByteBuffer buffer = allocate((long) values.length * 4);
    buffer.asFloatBuffer().put(values);
    return buffer;
  }

  /** A direct native-order copy of {@code values} (null stays null). */
  static ByteBuffer copyOf(short[] values) {
    if (values == null) return null;
    ByteBuffer buffer = allocate((long) values.length * 2);
    buffer.asShortBuffer().put(values);
    return buffer;
  }

  /** A direct native-order copy of {@code values} (null stays null). */
  static ByteBuffer copyOf(long[] values) {
    if (values == null) return null;
    ByteBuffer buffer = allocate((long) values.length * 8);
    buffer.asLongBuffer().put(values);
    return buffer;
  }

  /** A direct native-order buffer of {@code bytes} (at least 1, so it has an address). */
  static ByteBuffer allocate(long bytes) {
    if (bytes > Integer.MAX_VALUE) {
      throw Native.error(Status.OUT_OF_MEMORY, bytes
          + " bytes do not fit one Java array copy: use direct buffers of at most 2 GiB or split the work");
    }
    return ByteBuffer.allocateDirect((int) Math.max(bytes, 1)).order(ByteOrder.nativeOrder());
  }

  /** Address of a buffer made by copyOf/allocate (0 for null). */
  static long addressOf(ByteBuffer buffer) {
    return buffer == null ? 0 : SpinferNative.direct_buffer_address(buffer);
  }

  private static ByteOrder order(Buffer buffer) {
    if (buffer instanceof ByteBuffer b) return b.order();
    if (buffer instanceof ShortBuffer b) return b.order();
    if (buffer instanceof CharBuffer b) return b.order();
    if (buffer instanceof FloatBuffer b) return b.order();
    if (buffer instanceof IntBuffer b) return b.order();
    if (buffer instanceof LongBuffer b) return b.order();
    if (buffer instanceof DoubleBuffer b) return b.order();
    throw Native.error(Status.INVALID_ARGUMENT, "unknown buffer type " + buffer.getClass().getName());
  }

  private static int elementBytes(Buffer buffer) {
    if (buffer instanceof ByteBuffer) return 1;
    if (buffer instanceof ShortBuffer || buffer instanceof CharBuffer) return 2;
    if (buffer instanceof FloatBuffer || buffer instanceof IntBuffer) return 4;
    return 8; // LongBuffer, DoubleBuffer (order() has rejected anything else)
  }

  private static String kind(Buffer buffer) {
    if (buffer instanceof ShortBuffer) return "ShortBuffer";
    if (buffer instanceof CharBuffer) return "CharBuffer";
    if (buffer instanceof FloatBuffer) return "FloatBuffer";
    if (buffer instanceof IntBuffer) return "IntBuffer";
    if (buffer instanceof LongBuffer) return "LongBuffer";
    if (buffer instanceof DoubleBuffer) return "DoubleBuffer";
    return buffer.getClass().getSimpleName();
  }
}
