package io.spinfer;

import io.spinfer.jni.spinfer_dtype_t;

/** Element types of dense arrays and of stored non-zeros (spinfer_dtype_t). */
public enum DType {
  /** IEEE binary32: dense host inputs and outputs. In Java: float. */
  F32(4),
  /** IEEE binary16. In Java: the raw bits in a short. */
  F16(2),
  /** bfloat16. In Java: the raw bits in a short. */
  BF16(2);

  private static final String PREFIX = "SPINFER_DTYPE_";
  private final int sizeBytes;

  DType(int sizeBytes) {
    this.sizeBytes = sizeBytes;
  }

  /** Bytes per element. */
  public int sizeBytes() {
    return sizeBytes;
  }

  static DType of(spinfer_dtype_t raw) {
    return valueOf(raw.name().substring(PREFIX.length()));
  }

  spinfer_dtype_t raw() {
    return spinfer_dtype_t.valueOf(PREFIX + name());
  }
}
