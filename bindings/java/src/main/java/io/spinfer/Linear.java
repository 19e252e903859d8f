package io.spinfer;

import io.spinfer.jni.SpinferNative;
import io.spinfer.jni.spinfer_linear_config_t;
import java.lang.ref.Reference;
import java.nio.Buffer;
import java.nio.ByteBuffer;

/**
 * Sparse linear layer y = act(x * W^T + bias) (+ residual) on a context
 * (spinfer_linear_t). It refers to its matrix and context, which stay alive (in C)
 * until the layer is closed. One forward at a time per layer.
 */
public final class Linear extends NativeObject {
  private final Context context;
  private final long inFeatures;
  private final long outFeatures;

  private Linear(long pointer, Dependencies dependencies, Context context, Matrix w) {
    super(pointer, p -> SpinferNative.linear_destroy(p), "Linear", dependencies);
    this.context = context;
    this.inFeatures = w.cols();
    this.outFeatures = w.rows();
  }

  /**
   * A linear layer over {@code w} ([out, in]; a host matrix for a host context, a
   * device matrix for a CUDA one) with an optional F32 {@code bias} ([out], copied).
   */
  public static Linear create(Context ctx, Matrix w, float[] bias, Activation activation) {
    Native.nonNull(ctx, "ctx");
    Native.nonNull(w, "w");
    if (bias != null) HostData.checkLength(bias.length, 1, w.rows(), "bias");
    Dependencies dependencies = new Dependencies().add(ctx.handle()).add(w);
    ByteBuffer b = HostData.copyOf(bias);
    spinfer_linear_config_t config = new spinfer_linear_config_t();
    try {
      config.setActivation(Native.nonNull(activation, "activation").raw());
      long pointer = create(out -> SpinferNative.linear_create(ctx.pointer(), out,
          w.pointer(), HostData.addressOf(b), DType.F32.raw(), config, 0));
      return new Linear(pointer, dependencies, ctx, w);
    } catch (RuntimeException e) {
      dependencies.release();
      throw e;
    } finally {
      config.delete();
      Reference.reachabilityFence(b);
      Reference.reachabilityFence(w);
      Reference.reachabilityFence(ctx);
    }
  }

  /** K: input features. */
  public long inFeatures() {
    return inFeatures;
  }

  /** M: output features. */
  public long outFeatures() {
    return outFeatures;
  }

  /** F32 on the host: x [n, in], residual [n, out] or null; returns y [n, out]. */
  public float[] forward(float[] x, int n, float[] residual) {
    try {
      return Activations.forward(x, n, residual, inFeatures, outFeatures,
          (xa, ra, ya, dt) -> SpinferNative.linear_forward(context.pointer(), pointer(), xa, n, ra, ya, dt, 0));
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** On the host, in place on direct buffers of {@code dtype}: x [n, in], residual [n, out] or null, y [n, out]. */
  public void forward(Buffer x, long n, Buffer residual, Buffer y, DType dtype) {
    try {
      Activations.forward(x, n, residual, y, dtype, inFeatures, outFeatures,
          (xa, ra, ya, dt) -> SpinferNative.linear_forward(context.pointer(), pointer(), xa, n, ra, ya, dt, 0));
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** On the GPU: device addresses, dtype = the weights' storage dtype, asynchronous on {@code stream}. */
  public void forwardDevice(long x, long n, long residual, long y, DType dtype, long stream) {
    try {
      Native.check(SpinferNative.linear_forward(context.pointer(), pointer(), x, n, residual, y,
          Native.nonNull(dtype, "dtype").raw(), stream));
    } finally {
      Reference.reachabilityFence(this);
    }
  }
}
