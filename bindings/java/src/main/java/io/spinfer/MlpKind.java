package io.spinfer;

import io.spinfer.jni.spinfer_mlp_kind_t;

/** Shape of an MLP block (spinfer_mlp_kind_t). */
public enum MlpKind {
  /** down(act(up(x))): OPT, with up = fc1 and down = fc2. */
  PLAIN,
  /** down(act(gate(x)) * up(x)): LLaMA. */
  GATED;

  private static final String PREFIX = "SPINFER_MLP_";

  static MlpKind of(spinfer_mlp_kind_t raw) {
    return valueOf(raw.name().substring(PREFIX.length()));
  }

  spinfer_mlp_kind_t raw() {
    return spinfer_mlp_kind_t.valueOf(PREFIX + name());
  }
}
