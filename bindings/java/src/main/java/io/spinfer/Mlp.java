package io.spinfer;

import io.spinfer.jni.SpinferNative;
import io.spinfer.jni.spinfer_mlp_config_t;
import io.spinfer.jni.spinfer_status_t;
import java.lang.ref.Reference;
import java.nio.Buffer;
import java.nio.ByteBuffer;

/**
 * MLP block on a context (spinfer_mlp_t): PLAIN down(act(up(x))) (OPT fc1/fc2) or
 * GATED down(act(gate(x)) * up(x)) (LLaMA), y = mlp(x) + residual. Refers to its
 * matrices and context until closed. One forward at a time per block.
 */
public final class Mlp extends NativeLayer {
  /** MLP options; the defaults are the library's (spinfer_mlp_config_init). */
  public static final class Options {
    MlpKind kind;
    Activation activation;
    long maxTokens;
    boolean fuseGateUp;

    /** The library's defaults: GATED, SILU, max 512 tokens, gate/up fused where possible. */
    public Options() {
      spinfer_mlp_config_t raw = new spinfer_mlp_config_t();
      try {
        kind = MlpKind.of(raw.getKind());
        activation = Activation.of(raw.getActivation());
        maxTokens = raw.getMax_tokens();
        fuseGateUp = raw.getFuse_gate_up() != 0;
      } finally {
        raw.delete();
      }
    }

    public Options kind(MlpKind kind) {
      this.kind = Native.nonNull(kind, "kind");
      return this;
    }

    public Options activation(Activation activation) {
      this.activation = Native.nonNull(activation, "activation");
      return this;
    }

    /** Largest n of a forward (sizes the scratch memory). */
    public Options maxTokens(long maxTokens) {
      this.maxTokens = maxTokens;
      return this;
    }

    /** One SpMM over [gate; up] when the rows allow (a fused copy of both matrices). */
    public Options fuseGateUp(boolean fuseGateUp) {
      this.fuseGateUp = fuseGateUp;
      return this;
    }

    spinfer_mlp_config_t toRaw() {
      spinfer_mlp_config_t raw = new spinfer_mlp_config_t();
      raw.setKind(kind.raw());
      raw.setActivation(activation.raw());
      raw.setMax_tokens(maxTokens);
      raw.setFuse_gate_up(fuseGateUp ? 1 : 0);
      return raw;
    }
  }

  private Mlp(long pointer, Dependencies dependencies, Context context, long hidden) {
    super(pointer, p -> SpinferNative.mlp_destroy(p), "Mlp", dependencies, context, hidden, hidden);
  }

  /**
   * An MLP. PLAIN: {@code up} = fc1 [inter, hidden], {@code gate} null, {@code down} =
   * fc2 [hidden, inter]. GATED: gate and up [inter, hidden], down [hidden, inter].
   * Biases are optional F32 arrays ([inter], [hidden]), copied. {@code options} may be null.
   */
  public static Mlp create(Context ctx, Matrix gate, Matrix up, Matrix down, float[] upBias,
      float[] downBias, Options options) {
    Native.nonNull(ctx, "ctx");
    Native.nonNull(up, "up");
    Native.nonNull(down, "down");
    if (upBias != null) HostData.checkLength(upBias.length, 1, up.rows(), "up bias");
    if (downBias != null) HostData.checkLength(downBias.length, 1, down.rows(), "down bias");
    Dependencies dependencies = new Dependencies().add(ctx.handle()).add(gate).add(up).add(down);
    ByteBuffer ub = HostData.copyOf(upBias);
    ByteBuffer db = HostData.copyOf(downBias);
    spinfer_mlp_config_t config = (options == null ? new Options() : options).toRaw();
    try {
      return Native.onFailure(() -> {
        long pointer = Native.out(out -> SpinferNative.mlp_create(ctx.pointer(), out,
            Matrix.pointerOf(gate), up.pointer(), down.pointer(), HostData.addressOf(ub),
            HostData.addressOf(db), DType.F32.raw(), config, 0));
        return new Mlp(pointer, dependencies, ctx, down.rows());
      }, dependencies::release);
    } finally {
      config.delete();
      Reference.reachabilityFence(ub);
      Reference.reachabilityFence(db);
      Reference.reachabilityFence(gate);
      Reference.reachabilityFence(up);
      Reference.reachabilityFence(down);
      Reference.reachabilityFence(ctx);
    }
  }

  /** Hidden size: features of x and y. */
  public long hiddenSize() {
    return outFeatures;
  }

  /** F32 on the host: x [n, hidden], residual [n, hidden] or null; returns y [n, hidden]. */
  public float[] forward(float[] x, int n, float[] residual) {
    return forwardArrays(x, n, residual, null, this::run);
  }

  /** On the host, in place on direct buffers of {@code dtype}. */
  public void forward(Buffer x, long n, Buffer residual, Buffer y, DType dtype) {
    forwardBuffers(x, n, residual, y, dtype, null, this::run);
  }

  /** On the GPU: device addresses, asynchronous on {@code stream}. */
  public void forwardDevice(long x, long n, long residual, long y, DType dtype, long stream) {
    forwardAddresses(x, n, residual, y, dtype, stream, null, this::run);
  }

  private spinfer_status_t run(long x, long n, long residual, long y, DType dtype, long stream) {
    return SpinferNative.mlp_forward(context.pointer(), pointer(), x, n, residual, y,
        Native.nonNull(dtype, "dtype").raw(), stream);
  }
}
