package io.spinfer;

import io.spinfer.jni.SpinferNative;
import io.spinfer.jni.spinfer_matrix_info_t;
import io.spinfer.jni.spinfer_status_t;
import java.lang.ref.Reference;
import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * An encoded (TCA-BME) sparse matrix W of shape [rows = M, cols = K], on the host or
 * on a GPU (spinfer_matrix_t). Immutable: any number of threads may read, save or
 * multiply with it at once. Close it (try-with-resources) when no call uses it any
 * more; a forgotten matrix is freed when it is garbage-collected.
 *
 * <p>Host data is passed as Java arrays (copied) or as direct NIO buffers in native
 * byte order (used in place, from their position). F16 and BF16 data are the raw
 * 16-bit patterns in shorts.
 */
public final class Matrix extends NativeObject implements AutoCloseable {
  private final long rows;
  private final long cols;
  private final DType dtype;
  private final Location location;

  /** Takes ownership of a fresh C matrix handle. */
  Matrix(long pointer) {
    super(pointer, p -> SpinferNative.matrix_destroy(p), "Matrix");
    MatrixInfo info = Native.onFailure(() -> readInfo(pointer), this::close);
    this.rows = info.rows();
    this.cols = info.cols();
    this.dtype = info.dtype();
    this.location = info.location();
  }

  // ---- encode -------------------------------------------------------------------

  /**
   * Encodes the dense row-major float matrix {@code dense} ([rows, cols], exactly
   * rows * cols elements) with non-zeros stored as {@code storage} (F16 or BF16).
   * Values that round to zero in the storage dtype are dropped.
   */
  public static Matrix encode(float[] dense, long rows, long cols, DType storage) {
    if (dense != null) HostData.checkLength(dense.length, rows, cols, "dense");
    ByteBuffer copy = HostData.copyOf(dense);
    return encodeAt(HostData.addressOf(copy), copy, DType.F32, rows, cols, cols, storage);
  }

  /**
   * Encodes the dense row-major matrix {@code dense} given as raw 16-bit patterns of
   * {@code denseDType} (F16 or BF16), exactly rows * cols elements.
   */
  public static Matrix encode(short[] dense, DType denseDType, long rows, long cols, DType storage) {
    requireSixteenBit(denseDType, "dense");
    if (dense != null) HostData.checkLength(dense.length, rows, cols, "dense");
    ByteBuffer copy = HostData.copyOf(dense);
    return encodeAt(HostData.addressOf(copy), copy, denseDType, rows, cols, cols, storage);
  }

  /**
   * Encodes the dense row-major matrix held in the direct buffer {@code dense} (from
   * its position; dtype {@code denseDType}; leading dimension {@code ld} >= cols).
   */
  public static Matrix encode(Buffer dense, DType denseDType, long rows, long cols, long ld,
      DType storage) {
    Native.nonNull(denseDType, "dense dtype");
    long address = HostData.address(dense, "dense", denseDType,
        HostData.bytesOf(rows, cols, ld, denseDType), false);
    return encodeAt(address, dense, denseDType, rows, cols, ld, storage);
  }

  private static Matrix encodeAt(long address, Object keepAlive, DType denseDType, long rows,
      long cols, long ld, DType storage) {
    return created(out -> SpinferNative.matrix_encode(out, address,
        Native.nonNull(denseDType, "dense dtype").raw(), rows, cols, ld,
        Native.nonNull(storage, "storage dtype").raw()), keepAlive);
  }

  /**
   * Builds a host matrix from raw TCA-BME arrays (docs/format.md): {@code values} as
   * 16-bit patterns of {@code dtype}, one uint64 per BitmapTile in {@code bitmaps},
   * GroupTile starts in {@code groupOffsets}. The arrays are copied and validated;
   * anything breaking the format gives CORRUPT_DATA naming the broken rule.
   */
  public static Matrix fromArrays(long rows, long cols, DType dtype, long formatVersion,
      short[] values, long[] bitmaps, long[] groupOffsets) {
    ByteBuffer v = HostData.copyOf(values);
    ByteBuffer b = HostData.copyOf(bitmaps);
    ByteBuffer g = HostData.copyOf(groupOffsets);
    return created(out -> SpinferNative.matrix_from_arrays(out, rows, cols,
        Native.nonNull(dtype, "dtype").raw(), formatVersion,
        HostData.addressOf(v), values == null ? 0 : values.length,
        HostData.addressOf(b), bitmaps == null ? 0 : bitmaps.length,
        HostData.addressOf(g), groupOffsets == null ? 0 : groupOffsets.length), v, b, g);
  }

  // ---- files ----------------------------------------------------------------------

  /** Loads the matrix called {@code name} from a safetensors file; see {@link MatrixFile#load}. */
  public static Matrix load(Path path, String name) {
    return MatrixFile.load(path, name);
  }

  /** Saves this host matrix alone under {@code name}; see {@link MatrixFile#save}. */
  public void save(Path path, String name) {
    MatrixFile.save(path, java.util.Map.of(name, this));
  }

  // ---- decode ---------------------------------------------------------------------

  /** Decodes this host matrix to a new dense row-major float array of rows * cols. */
  public float[] decodeFloats() {
    ByteBuffer dense = HostData.allocate(HostData.bytesOf(rows, cols, cols, DType.F32));
    decode(dense, DType.F32, cols);
    float[] result = new float[Math.toIntExact(rows * cols)];
    dense.asFloatBuffer().get(result);
    return result;
  }

  /** Decodes this host matrix to dense row-major 16-bit patterns of {@code dtype} (F16 or BF16). */
  public short[] decodeShorts(DType dtype) {
    requireSixteenBit(dtype, "dense");
    ByteBuffer dense = HostData.allocate(HostData.bytesOf(rows, cols, cols, dtype));
    decode(dense, dtype, cols);
    short[] result = new short[Math.toIntExact(rows * cols)];
    dense.asShortBuffer().get(result);
    return result;
  }

  /**
   * Decodes this host matrix into the direct buffer {@code dense} (from its position;
   * dtype {@code denseDType}, leading dimension {@code ld} >= cols). Zeros are written
   * where nothing is stored.
   */
  public void decode(Buffer dense, DType denseDType, long ld) {
    Native.nonNull(denseDType, "dense dtype");
    long address = HostData.address(dense, "dense", denseDType,
        HostData.bytesOf(rows, cols, ld, denseDType), true);
    try {
      Native.check(SpinferNative.matrix_decode(pointer(), address, denseDType.raw(), ld));
    } finally {
      Reference.reachabilityFence(dense);
      Reference.reachabilityFence(this);
    }
  }

  // ---- facts ----------------------------------------------------------------------

  /** M: rows of W (output features). */
  public long rows() {
    return rows;
  }

  /** K: columns of W (input features). */
  public long cols() {
    return cols;
  }

  /** Storage dtype of the non-zeros (F16 or BF16). */
  public DType dtype() {
    return dtype;
  }

  /** Host or device. */
  public Location location() {
    return location;
  }

  /** All facts about the matrix (nnz, sparsity, bytes, ...). */
  public MatrixInfo info() {
    try {
      return readInfo(pointer());
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** Number of stored non-zeros. */
  public long nnz() {
    return info().nnz();
  }

  /** Checks every format invariant; throws CORRUPT_DATA / UNSUPPORTED_VERSION naming the first broken one. */
  public void validate() {
    call(p -> SpinferNative.matrix_validate(p));
  }

  /** Frees the matrix. Idempotent. No other call may be using it. */
  @Override
  public void close() {
    super.close();
  }

  @Override
  public String toString() {
    return "Matrix[" + rows + " x " + cols + ", " + dtype + ", " + location
        + (isClosed() ? ", closed" : "") + "]";
  }

  // ---- package-private ------------------------------------------------------------

  /**
   * A new matrix from {@code create}, which fills its one-element array with the C
   * handle; {@code keepAlive} (buffers, matrices, the context) stays reachable until then.
   */
  static Matrix created(Function<long[], spinfer_status_t> create, Object... keepAlive) {
    long pointer;
    try {
      pointer = Native.out(create);
    } finally {
      Reference.reachabilityFence(keepAlive);
    }
    return new Matrix(pointer);
  }

  /** The C handle of {@code m}, or 0 for null so that the library reports the NULL. */
  static long pointerOf(Matrix m) {
    return m == null ? 0 : m.pointer();
  }

  static void requireSixteenBit(DType dtype, String name) {
    Native.nonNull(dtype, name + " dtype");
    if (dtype != DType.F16 && dtype != DType.BF16) {
      throw Native.error(Status.UNSUPPORTED_DTYPE,
          name + " is 16-bit data (short[]), so its dtype must be F16 or BF16, not " + dtype);
    }
  }

  private static MatrixInfo readInfo(long pointer) {
    spinfer_matrix_info_t raw = new spinfer_matrix_info_t();
    try {
      Native.check(SpinferNative.matrix_get_info(pointer, raw));
      return new MatrixInfo(raw.getRows(), raw.getCols(), DType.of(raw.getDtype()),
          Location.of(raw.getLocation()), raw.getDevice(), raw.getFormat_version(), raw.getNnz(),
          raw.getSparsity(), raw.getBytes(), raw.getDense_bytes(), raw.getCompression_ratio(),
          raw.getValues_count(), raw.getBitmaps_count(), raw.getOffsets_count());
    } finally {
      raw.delete();
    }
  }
}
