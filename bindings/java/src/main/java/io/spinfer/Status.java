package io.spinfer;

import io.spinfer.jni.spinfer_status_t;

/** Status codes of the C API (spinfer_status_t), same names without the prefix. */
public enum Status {
  SUCCESS,
  INVALID_ARGUMENT,
  SHAPE_MISMATCH,
  UNSUPPORTED_DTYPE,
  MISALIGNED,
  OUT_OF_MEMORY,
  IO_ERROR,
  CORRUPT_DATA,
  UNSUPPORTED_VERSION,
  NOT_FOUND,
  NOT_SUPPORTED,
  NO_DEVICE,
  WRONG_LOCATION,
  CUDA_ERROR,
  INTERNAL_ERROR;

  private static final String PREFIX = "SPINFER_STATUS_";

  /** The Java status of a C status, matched by name (a test checks every pair). */
  static Status of(spinfer_status_t raw) {
    return valueOf(raw.name().substring(PREFIX.length()));
  }

  /** The C status of this Java status. */
  spinfer_status_t raw() {
    return spinfer_status_t.valueOf(PREFIX + name());
  }
}
