package io.spinfer;

import io.spinfer.jni.spinfer_location_t;

/** Where a matrix's arrays live (spinfer_location_t). */
public enum Location {
  HOST,
  DEVICE;

  private static final String PREFIX = "SPINFER_LOCATION_";

  static Location of(spinfer_location_t raw) {
    return valueOf(raw.name().substring(PREFIX.length()));
  }
}
