package io.spinfer;

import java.util.ArrayList;
import java.util.List;

/**
 * The handles a layer, cache or model refers to from C (its context, its matrices):
 * retained for as long as the dependent lives, then released together.
 */
final class Dependencies {
  private final List<NativeHandle> handles = new ArrayList<>();

  /** Retains {@code handle} (a closed one throws, after releasing what was taken). */
  Dependencies add(NativeHandle handle) {
    Native.onFailure(handle::retain, this::release);
    handles.add(handle);
    return this;
  }

  /** Retains a matrix's handle; null is skipped (the library decides whether it may be null). */
  Dependencies add(Matrix matrix) {
    return matrix == null ? this : add(matrix.handle());
  }

  void release() {
    for (NativeHandle h : handles) h.release();
    handles.clear();
  }
}
