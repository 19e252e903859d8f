package io.spinfer;

import io.spinfer.jni.spinfer_backend_t;

/** Where a context runs work (spinfer_backend_t). */
public enum Backend {
  /** CUDA when the library has CUDA kernels and a GPU is present, else HOST. */
  AUTO,
  /** Multi-threaded CPU backend; same results from the same format. */
  HOST,
  /** NVIDIA GPU. */
  CUDA;

  private static final String PREFIX = "SPINFER_BACKEND_";

  static Backend of(spinfer_backend_t raw) {
    return valueOf(raw.name().substring(PREFIX.length()));
  }

  spinfer_backend_t raw() {
    return spinfer_backend_t.valueOf(PREFIX + name());
  }
}
