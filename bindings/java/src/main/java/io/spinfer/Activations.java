package io.spinfer;

import io.spinfer.jni.spinfer_status_t;
import java.lang.ref.Reference;
import java.nio.Buffer;
import java.nio.ByteBuffer;

/**
 * Host activations for layer forwards: contiguous row-major [n, features] arrays or
 * direct buffers, size-checked against the layer's features before any pointer
 * reaches C. The native call itself comes in as a {@link Call}.
 */
final class Activations {
  private Activations() {}

  /**
   * A layer's forward, given addresses (x, residual or 0, y: host here, device for the
   * layers' forwardDevice), the token count, the dtype and the stream (0 on the host).
   */
  @FunctionalInterface
  interface Call {
    spinfer_status_t run(long x, long n, long residual, long y, DType dtype, long stream);
  }

  /** F32 arrays: x [n, in], residual [n, out] or null; returns the new y [n, out]. */
  static float[] forward(float[] x, int n, float[] residual, long in, long out, Call call) {
    if (x != null) HostData.checkLength(x.length, n, in, "x");
    if (residual != null) HostData.checkLength(residual.length, n, out, "residual");
    float[] y = new float[n < 0 ? 0 : Math.toIntExact((long) n * out)];
    ByteBuffer xb = HostData.copyOf(x);
    ByteBuffer rb = HostData.copyOf(residual);
    ByteBuffer yb = HostData.allocate((long) y.length * 4);
    try {
      Native.check(call.run(HostData.addressOf(xb), n, HostData.addressOf(rb), HostData.addressOf(yb),
          DType.F32, 0));
    } finally {
      Reference.reachabilityFence(xb);
      Reference.reachabilityFence(rb);
      Reference.reachabilityFence(yb);
    }
    yb.asFloatBuffer().get(y);
    return y;
  }

  /** Direct buffers (native order, from their positions) of {@code dtype}. */
  static void forward(Buffer x, long n, Buffer residual, Buffer y, DType dtype, long in, long out,
      Call call) {
    Native.nonNull(dtype, "dtype");
    long xa = HostData.address(x, "x", dtype, HostData.bytesOf(n, in, in, dtype), false);
    long ra = HostData.address(residual, "residual", dtype, HostData.bytesOf(n, out, out, dtype), false);
    long ya = HostData.address(y, "y", dtype, HostData.bytesOf(n, out, out, dtype), true);
    try {
      Native.check(call.run(xa, n, ra, ya, dtype, 0));
    } finally {
      Reference.reachabilityFence(x);
      Reference.reachabilityFence(residual);
      Reference.reachabilityFence(y);
    }
  }

  /**
   * The number of sequences of a step given as parallel arrays ({@code seqIds} and
   * {@code other}, either may be null for the library to report); SHAPE_MISMATCH when
   * both are given with different lengths.
   */
  static int stepCount(int[] seqIds, int[] other, String otherName) {
    if (seqIds != null && other != null && seqIds.length != other.length) {
      throw Native.error(Status.SHAPE_MISMATCH, "seqIds has " + seqIds.length
          + " entries but " + otherName + " has " + other.length);
    }
    return seqIds != null ? seqIds.length : other != null ? other.length : 0;
  }

  /** A direct copy of an int array (token or sequence ids); null stays null. */
  static ByteBuffer copyOf(int[] values) {
    if (values == null) return null;
    ByteBuffer buffer = HostData.allocate((long) values.length * 4);
    buffer.asIntBuffer().put(values);
    return buffer;
  }
}
