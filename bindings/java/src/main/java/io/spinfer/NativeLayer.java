package io.spinfer;

import java.lang.ref.Reference;
import java.nio.Buffer;
import java.util.function.LongConsumer;

/**
 * Base of the layers (linear, MLP, attention, decoder layer): a handle on a context
 * with x [n, in] and y [n, out] activations, and the three ways to run its forward
 * (F32 arrays, direct buffers, device addresses) around one native {@link Activations.Call}.
 * Each keeps this layer, and {@code keepAlive} (the KV cache, or null), reachable
 * during the call.
 */
abstract class NativeLayer extends NativeObject {
  final Context context;
  final long inFeatures;
  final long outFeatures;

  NativeLayer(long pointer, LongConsumer destroy, String kind, Dependencies dependencies,
      Context context, long inFeatures, long outFeatures) {
    super(pointer, destroy, kind, dependencies);
    this.context = context;
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
  }

  /** F32 on the host: x [n, in], residual [n, out] or null; returns y [n, out]. */
  final float[] forwardArrays(float[] x, int n, float[] residual, Object keepAlive,
      Activations.Call call) {
    try {
      return Activations.forward(x, n, residual, inFeatures, outFeatures, call);
    } finally {
      Reference.reachabilityFence(keepAlive);
      Reference.reachabilityFence(this);
    }
  }

  /** On the host, in place on direct buffers of {@code dtype}: x [n, in], residual and y [n, out]. */
  final void forwardBuffers(Buffer x, long n, Buffer residual, Buffer y, DType dtype,
      Object keepAlive, Activations.Call call) {
    try {
      Activations.forward(x, n, residual, y, dtype, inFeatures, outFeatures, call);
    } finally {
      Reference.reachabilityFence(keepAlive);
      Reference.reachabilityFence(this);
    }
  }

  /** On the GPU: device addresses, asynchronous on {@code stream}. */
  final void forwardAddresses(long x, long n, long residual, long y, DType dtype, long stream,
      Object keepAlive, Activations.Call call) {
    try {
      Native.check(call.run(x, n, residual, y, dtype, stream));
    } finally {
      Reference.reachabilityFence(keepAlive);
      Reference.reachabilityFence(this);
    }
  }
}
