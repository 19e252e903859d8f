package io.spinfer;

import io.spinfer.jni.SpinferNative;
import io.spinfer.jni.spinfer_backend_t;
import io.spinfer.jni.spinfer_context_config_t;
import io.spinfer.jni.spinfer_spmm_options_t;
import java.lang.ref.Reference;
import java.lang.reflect.Array;
import java.nio.Buffer;
import java.nio.ByteBuffer;

/**
 * A library context (spinfer_context_t): the backend choice, the CUDA device and its
 * split-K workspaces. Computes Y = X * W^T (+ bias) with fp32 accumulation, where X is
 * [n, K] and Y is [n, M] row-major and W is a {@link Matrix} [M, K].
 *
 * <p>Thread safety: a context may be used from many threads at once (on CUDA, each
 * with its own stream). Close it (try-with-resources) when no call uses it any more.
 *
 * <p>Host data: Java arrays (copied in and out) or direct NIO buffers in native byte
 * order (used in place, from their position). Device data: addresses as longs
 * (cudaStream_t likewise; 0 is the default stream).
 */
public final class Context extends NativeObject implements AutoCloseable {
  private final Backend backend;

  private Context(long pointer) {
    super(pointer, p -> SpinferNative.context_destroy(p), "Context");
    this.backend = Native.onFailure(() -> readBackend(pointer), this::close);
  }

  /**
   * A context for {@code backend}. AUTO picks CUDA when the library has CUDA kernels and
   * a GPU is present, else HOST. CUDA gives NOT_SUPPORTED without a CUDA build and
   * NO_DEVICE without a GPU.
   */
  public static Context create(Backend backend) {
    return new Context(Native.out(out -> SpinferNative.context_create(out,
        Native.nonNull(backend, "backend").raw())));
  }

  /**
   * A context for {@code backend} on CUDA device {@code device}, with
   * {@code hostThreads} threads for the host backend (0 = hardware concurrency).
   */
  public static Context create(Backend backend, int device, int hostThreads) {
    spinfer_context_config_t config = new spinfer_context_config_t();
    long pointer;
    try {
      config.setBackend(Native.nonNull(backend, "backend").raw());
      config.setDevice(device);
      config.setHost_threads(hostThreads);
      pointer = Native.out(out -> SpinferNative.context_create_ex(out, config));
    } finally {
      config.delete();
    }
    return new Context(pointer);
  }

  /** A host (CPU) context, available in every build. */
  public static Context host() {
    return create(Backend.HOST);
  }

  /** The backend this context resolved to (never AUTO). */
  public Backend backend() {
    return backend;
  }

  // ---- host SpMM --------------------------------------------------------------------

  /**
   * Y = X * W^T (+ bias) in F32 on the host: {@code x} is [n, K] (n * K floats),
   * {@code bias} [M] or null; returns the new Y [n, M].
   */
  public float[] spmm(Matrix w, float[] x, int n, float[] bias) {
    float[] y = new float[w == null || n < 0 ? 0 : Math.toIntExact((long) n * w.rows())];
    spmm(w, x, n, bias, y);
    return y;
  }

  /** Y = X * W^T (+ bias) in F32 on the host into {@code y} ([n, M], n * M floats). */
  public void spmm(Matrix w, float[] x, int n, float[] bias, float[] y) {
    checkArrays(w, x, n, bias, y);
    ByteBuffer yb = runHost(w, HostData.copyOf(x), n, HostData.copyOf(bias),
        y == null ? -1 : (long) y.length * 4, DType.F32);
    if (y != null) yb.asFloatBuffer().get(y);
  }

  /**
   * Y = X * W^T (+ bias) on the host with F16 or BF16 data as raw 16-bit patterns:
   * {@code x} [n, K], {@code bias} [M] or null, {@code y} [n, M]; fp32 accumulation,
   * results rounded once to {@code dtype}.
   */
  public void spmm(Matrix w, short[] x, int n, short[] bias, short[] y, DType dtype) {
    Matrix.requireSixteenBit(dtype, "x, bias and y");
    checkArrays(w, x, n, bias, y);
    ByteBuffer yb = runHost(w, HostData.copyOf(x), n, HostData.copyOf(bias),
        y == null ? -1 : (long) y.length * 2, dtype);
    if (y != null) yb.asShortBuffer().get(y);
  }

  /**
   * Y = X * W^T (+ bias) on the host, in place on direct buffers (native byte order,
   * from their positions): {@code x} [n, K] with leading dimension {@code ldx},
   * {@code bias} [M] or null, {@code y} [n, M] with leading dimension {@code ldy}, all
   * of {@code dtype} (F32, F16 or BF16). ByteBuffers of any view, or typed buffers
   * whose element size is the dtype's, are accepted.
   */
  public void spmm(Matrix w, Buffer x, long n, long ldx, Buffer bias, Buffer y, long ldy,
      DType dtype) {
    Native.nonNull(dtype, "dtype");
    requireHostMatrix(w);
    boolean shaped = w != null;
    long k = shaped ? w.cols() : 0;
    long m = shaped ? w.rows() : 0;
    long xa = HostData.address(x, "x", dtype,
        shaped ? HostData.bytesOf(n, k, ldx, dtype) : HostData.INVALID_SHAPE, false);
    long ba = HostData.address(bias, "bias", dtype,
        shaped ? HostData.bytesOf(1, m, m, dtype) : HostData.INVALID_SHAPE, false);
    long ya = HostData.address(y, "y", dtype,
        shaped ? HostData.bytesOf(n, m, ldy, dtype) : HostData.INVALID_SHAPE, true);
    try {
      Native.check(SpinferNative.spmm(pointer(), Matrix.pointerOf(w), xa, n, ldx, ba, ya, ldy,
          dtype.raw(), 0));
    } finally {
      Reference.reachabilityFence(x);
      Reference.reachabilityFence(bias);
      Reference.reachabilityFence(y);
      Reference.reachabilityFence(w);
      Reference.reachabilityFence(this);
    }
  }

  // ---- device (CUDA) ----------------------------------------------------------------

  /**
   * Y = X * W^T (+ bias) on the GPU for a device matrix {@code w}: {@code x}, {@code bias}
   * (0 for none) and {@code y} are device addresses of {@code dtype} (the matrix's
   * storage dtype), x and y 16-byte aligned with ldx and ldy multiples of 8.
   * Asynchronous on {@code stream} (0 = default stream); {@code options} may be null.
   */
  public void spmmDevice(Matrix w, long x, long n, long ldx, long bias, long y, long ldy,
      DType dtype, SpmmOptions options, long stream) {
    Native.nonNull(dtype, "dtype");
    if (w != null && w.location() != Location.DEVICE) {
      throw Native.error(Status.WRONG_LOCATION,
          "w is a host matrix: use spmm with host arrays or buffers, or upload it first");
    }
    spinfer_spmm_options_t raw = new spinfer_spmm_options_t();
    try {
      if (options != null) {
        raw.setSplit_k(options.splitK());
        raw.setTile_n(options.tileN());
      }
      Native.check(SpinferNative.spmm_ex(pointer(), Matrix.pointerOf(w), x, n, ldx, bias, y, ldy,
          dtype.raw(), raw, stream));
    } finally {
      raw.delete();
      Reference.reachabilityFence(w);
      Reference.reachabilityFence(this);
    }
  }

  /** Copies host matrix {@code host} to this context's GPU on {@code stream}. CUDA contexts only. */
  public Matrix upload(Matrix host, long stream) {
    return Matrix.created(out -> SpinferNative.matrix_upload(pointer(), Matrix.pointerOf(host), out,
        stream), host, this);
  }

  /** Copies device matrix {@code device} back to a new host matrix (synchronises {@code stream}). */
  public Matrix download(Matrix device, long stream) {
    return Matrix.created(out -> SpinferNative.matrix_download(pointer(), Matrix.pointerOf(device),
        out, stream), device, this);
  }

  /**
   * Encodes a dense row-major matrix already on this context's GPU (device address
   * {@code dense}) into a new device matrix; synchronises {@code stream}.
   */
  public Matrix encodeDevice(long dense, DType denseDType, long rows, long cols, long ld,
      DType storage, long stream) {
    return Matrix.created(out -> SpinferNative.matrix_encode_device(pointer(), out, dense,
        Native.nonNull(denseDType, "dense dtype").raw(), rows, cols, ld,
        Native.nonNull(storage, "storage dtype").raw(), stream), this);
  }

  // ---- life cycle -------------------------------------------------------------------

  /** Frees the context and its workspaces. Idempotent. No other call may be using it. */
  @Override
  public void close() {
    super.close();
  }

  @Override
  public String toString() {
    return "Context[" + backend + (isClosed() ? ", closed" : "") + "]";
  }

  // ---- helpers ----------------------------------------------------------------------

  private static Backend readBackend(long pointer) {
    int[] resolved = new int[1];
    Native.check(SpinferNative.context_get_backend(pointer, resolved));
    return Backend.of(spinfer_backend_t.swigToEnum(resolved[0]));
  }

  /**
   * The array overloads' SpMM on direct copies {@code x} and {@code bias} (their lengths
   * already checked, so the buffer overload's checks pass); returns the new y buffer of
   * {@code yBytes} (null when yBytes < 0: y is null).
   */
  private ByteBuffer runHost(Matrix w, ByteBuffer x, long n, ByteBuffer bias, long yBytes,
      DType dtype) {
    ByteBuffer y = yBytes < 0 ? null : HostData.allocate(yBytes);
    spmm(w, x, n, w == null ? 0 : w.cols(), bias, y, w == null ? 0 : w.rows(), dtype);
    return y;
  }

  /**
   * For the array overloads: {@code w} is a host matrix and the arrays (float[] or
   * short[]; null ones are left to the library) have the lengths of their shapes
   * (arrays have ld = row length).
   */
  private static void checkArrays(Matrix w, Object x, int n, Object bias, Object y) {
    requireHostMatrix(w);
    if (w == null) return; // the library reports the NULL matrix
    if (x != null) HostData.checkLength(Array.getLength(x), n, w.cols(), "x");
    if (bias != null) HostData.checkLength(Array.getLength(bias), 1, w.rows(), "bias");
    if (y != null) HostData.checkLength(Array.getLength(y), n, w.rows(), "y");
  }

  private static void requireHostMatrix(Matrix w) {
    if (w != null && w.location() != Location.HOST) {
      throw Native.error(Status.WRONG_LOCATION,
          "w is a device matrix: use spmmDevice with device addresses, or download it first");
    }
  }
}
