package io.spinfer;

import io.spinfer.jni.spinfer_arch_t;

/** Decoder family (spinfer_arch_t). */
public enum Arch {
  /** Pre-LN LayerNorm, learned positions, biases, fc1 -> act -> fc2. */
  OPT,
  /** RMSNorm, RoPE, no biases, act(gate) * up -> down, grouped-query attention. */
  LLAMA;

  private static final String PREFIX = "SPINFER_ARCH_";

  static Arch of(spinfer_arch_t raw) {
    return valueOf(raw.name().substring(PREFIX.length()));
  }

  spinfer_arch_t raw() {
    return spinfer_arch_t.valueOf(PREFIX + name());
  }
}
