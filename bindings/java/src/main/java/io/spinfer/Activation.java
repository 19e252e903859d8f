package io.spinfer;

import io.spinfer.jni.spinfer_activation_t;

/** Element-wise activation after a linear map or inside a gated MLP (spinfer_activation_t). */
public enum Activation {
  /** Identity. */
  NONE,
  /** max(x, 0). */
  RELU,
  /** x * Phi(x), exact erf form (Hugging Face "gelu"). */
  GELU,
  /** tanh approximation (Hugging Face "gelu_new"). */
  GELU_TANH,
  /** x * sigmoid(x) (Hugging Face "silu"). */
  SILU;

  private static final String PREFIX = "SPINFER_ACTIVATION_";

  static Activation of(spinfer_activation_t raw) {
    return valueOf(raw.name().substring(PREFIX.length()));
  }

  spinfer_activation_t raw() {
    return spinfer_activation_t.valueOf(PREFIX + name());
  }
}
