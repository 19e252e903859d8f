package io.spinfer;

import io.spinfer.jni.SpinferNative;
import io.spinfer.jni.spinfer_status_t;
import java.lang.ref.Reference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Encoded matrices in safetensors files (tensors NAME.values, NAME.bitmaps,
 * NAME.group_offsets and the shape, dtype and format version in __metadata__;
 * docs/format.md). Any safetensors reader can open the files.
 */
public final class MatrixFile {
  private MatrixFile() {}

  /**
   * Saves host matrices to one file at {@code path}, each under its map key, in the
   * map's iteration order. Names must be non-empty and distinct. The file is written
   * to a temporary name and renamed, so a failure leaves no partial file.
   */
  public static void save(Path path, Map<String, Matrix> matrices) {
    Native.nonNull(matrices, "matrices");
    String[] names = new String[matrices.size()];
    long[] handles = new long[matrices.size()];
    int i = 0;
    for (Map.Entry<String, Matrix> entry : matrices.entrySet()) {
      names[i] = entry.getKey();
      handles[i] = Matrix.pointerOf(entry.getValue());
      ++i;
    }
    try {
      Native.check(SpinferNative.save(pathString(path), handles, names));
    } finally {
      Reference.reachabilityFence(matrices);
    }
  }

  /**
   * Loads the matrix called {@code name} (null when the file holds exactly one) into
   * a new host matrix. Every field is validated: a corrupt or truncated file gives
   * CORRUPT_DATA or IO_ERROR, an unknown name NOT_FOUND.
   */
  public static Matrix load(Path path, String name) {
    long[] out = new long[1];
    Native.check(SpinferNative.load(out, pathString(path), name));
    return new Matrix(out[0]);
  }

  /** Names of the matrices in the file, sorted. */
  public static List<String> names(Path path) {
    String file = pathString(path);
    long[] count = new long[1];
    Native.check(SpinferNative.file_matrix_count(file, count));
    List<String> names = new ArrayList<>();
    for (long index = 0; index < count[0]; ++index) names.add(name(file, index));
    return names;
  }

  private static String name(String file, long index) {
    long[] required = new long[1];
    byte[] buffer = new byte[64];
    spinfer_status_t status = SpinferNative.file_matrix_name(file, index, buffer, required);
    if (status != spinfer_status_t.SPINFER_STATUS_SUCCESS && required[0] > buffer.length) {
      buffer = new byte[Math.toIntExact(required[0])]; // too small: retry at the size asked for
      status = SpinferNative.file_matrix_name(file, index, buffer, required);
    }
    Native.check(status);
    int length = 0;
    while (length < buffer.length && buffer[length] != 0) ++length;
    return new String(buffer, 0, length, StandardCharsets.UTF_8);
  }

  /** The path as the library takes it; null stays null so that the library reports it. */
  private static String pathString(Path path) {
    return path == null ? null : path.toString();
  }
}
