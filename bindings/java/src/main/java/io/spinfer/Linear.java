package io.spinfer;

import io.spinfer.jni.SpinferNative;
import io.spinfer.jni.spinfer_linear_config_t;
import io.spinfer.jni.spinfer_status_t;
import java.lang.ref.Reference;
import java.nio.Buffer;
import java.nio.ByteBuffer;

/**
 * Sparse linear layer y = act(x * W^T + bias) (+ residual) on a context
 * (spinfer_linear_t). It refers to its matrix and context, which stay alive (in C)
 * until the layer is closed. One forward at a time per layer.
 */
public final class Linear extends NativeLayer {
  private Linear(long pointer, Dependencies dependencies, Context context, Matrix w) {
    super(pointer, p -> SpinferNative.linear_destroy(p), "Linear", dependencies, context, w.cols(),
        w.rows());
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
      return Native.onFailure(() -> {
        config.setActivation(Native.nonNull(activation, "activation").raw());
        long pointer = Native.out(out -> SpinferNative.linear_create(ctx.pointer(), out,
            w.pointer(), HostData.addressOf(b), DType.F32.raw(), config, 0));
        return new Linear(pointer, dependencies, ctx, w);
      }, dependencies::release);
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
    return forwardArrays(x, n, residual, null, this::run);
  }

  /** On the host, in place on direct buffers of {@code dtype}: x [n, in], residual [n, out] or null, y [n, out]. */
  public void forward(Buffer x, long n, Buffer residual, Buffer y, DType dtype) {
    forwardBuffers(x, n, residual, y, dtype, null, this::run);
  }

  /** On the GPU: device addresses, dtype = the weights' storage dtype, asynchronous on {@code stream}. */
  public void forwardDevice(long x, long n, long residual, long y, DType dtype, long stream) {
    forwardAddresses(x, n, residual, y, dtype, stream, null, this::run);
  }

  private spinfer_status_t run(long x, long n, long residual, long y, DType dtype, long stream) {
    return SpinferNative.linear_forward(context.pointer(), pointer(), x, n, residual, y,
        Native.nonNull(dtype, "dtype").raw(), stream);
  }
}
