package io.spinfer;

import io.spinfer.jni.SpinferNative;
import io.spinfer.jni.spinfer_attention_config_t;
import java.lang.ref.Reference;
import java.nio.Buffer;
import java.nio.ByteBuffer;

/**
 * Self-attention block (spinfer_attention_t): sparse Q/K/V/O projections, RoPE, causal
 * attention over a {@link KvCache}. y = attention(x) + residual for the cache's
 * current step. Refers to its matrices and context until closed.
 */
public final class Attention extends NativeLayer {
  /**
   * Attention options: the fields of spinfer_attention_config_t (spinfer.h documents
   * each) as fluent setters in camelCase. Defaults are the library's; numHeads must be set.
   */
  public static final class Config {
    int numHeads;
    int numKvHeads;
    int headDim;
    boolean useRope;
    double ropeTheta;
    double scale;
    long maxTokens;
    boolean fuseQkv;

    /** The library's defaults (spinfer_attention_config_init). */
    public Config() {
      spinfer_attention_config_t raw = new spinfer_attention_config_t();
      try {
        numHeads = raw.getNum_heads();
        numKvHeads = raw.getNum_kv_heads();
        headDim = raw.getHead_dim();
        useRope = raw.getUse_rope() != 0;
        ropeTheta = raw.getRope_theta();
        scale = raw.getScale();
        maxTokens = raw.getMax_tokens();
        fuseQkv = raw.getFuse_qkv() != 0;
      } finally {
        raw.delete();
      }
    }

    public Config numHeads(int v) { numHeads = v; return this; }
    /** 0 = numHeads (multi-head attention). */
    public Config numKvHeads(int v) { numKvHeads = v; return this; }
    /** 0 = hidden / numHeads. */
    public Config headDim(int v) { headDim = v; return this; }
    public Config useRope(boolean v) { useRope = v; return this; }
    public Config ropeTheta(double v) { ropeTheta = v; return this; }
    /** Score scale; 0 = 1 / sqrt(headDim). */
    public Config scale(double v) { scale = v; return this; }
    public Config maxTokens(long v) { maxTokens = v; return this; }
    public Config fuseQkv(boolean v) { fuseQkv = v; return this; }

    spinfer_attention_config_t toRaw() {
      spinfer_attention_config_t raw = new spinfer_attention_config_t();
      raw.setNum_heads(numHeads);
      raw.setNum_kv_heads(numKvHeads);
      raw.setHead_dim(headDim);
      raw.setUse_rope(useRope ? 1 : 0);
      raw.setRope_theta(ropeTheta);
      raw.setScale(scale);
      raw.setMax_tokens(maxTokens);
      raw.setFuse_qkv(fuseQkv ? 1 : 0);
      return raw;
    }
  }

  private Attention(long pointer, Dependencies dependencies, Context context, long hidden) {
    super(pointer, p -> SpinferNative.attention_destroy(p), "Attention", dependencies, context,
        hidden, hidden);
  }

  /**
   * An attention block from q [heads*headDim, hidden], k and v [kvHeads*headDim,
   * hidden], o [hidden, heads*headDim] and optional F32 biases (null = none, copied).
   */
  public static Attention create(Context ctx, Matrix q, Matrix k, Matrix v, Matrix o,
      float[] qBias, float[] kBias, float[] vBias, float[] oBias, Config config) {
    Native.nonNull(ctx, "ctx");
    Native.nonNull(o, "o");
    Native.nonNull(config, "config");
    Dependencies dependencies = new Dependencies().add(ctx.handle()).add(q).add(k).add(v).add(o);
    ByteBuffer qb = HostData.copyOf(qBias);
    ByteBuffer kb = HostData.copyOf(kBias);
    ByteBuffer vb = HostData.copyOf(vBias);
    ByteBuffer ob = HostData.copyOf(oBias);
    spinfer_attention_config_t raw = config.toRaw();
    try {
      return Native.onFailure(() -> {
        if (qBias != null && q != null) HostData.checkLength(qBias.length, 1, q.rows(), "q bias");
        if (kBias != null && k != null) HostData.checkLength(kBias.length, 1, k.rows(), "k bias");
        if (vBias != null && v != null) HostData.checkLength(vBias.length, 1, v.rows(), "v bias");
        if (oBias != null) HostData.checkLength(oBias.length, 1, o.rows(), "o bias");
        long pointer = Native.out(out -> SpinferNative.attention_create(ctx.pointer(), out,
            Matrix.pointerOf(q), Matrix.pointerOf(k), Matrix.pointerOf(v), o.pointer(),
            HostData.addressOf(qb), HostData.addressOf(kb), HostData.addressOf(vb),
            HostData.addressOf(ob), DType.F32.raw(), raw, 0));
        return new Attention(pointer, dependencies, ctx, o.rows());
      }, dependencies::release);
    } finally {
      raw.delete();
      Reference.reachabilityFence(qb);
      Reference.reachabilityFence(kb);
      Reference.reachabilityFence(vb);
      Reference.reachabilityFence(ob);
      Reference.reachabilityFence(q);
      Reference.reachabilityFence(k);
      Reference.reachabilityFence(v);
      Reference.reachabilityFence(o);
      Reference.reachabilityFence(ctx);
    }
  }

  /** Hidden size: features of x and y. */
  public long hiddenSize() {
    return outFeatures;
  }

  /** F32 on the host for the cache's current step, layer {@code layerIndex}: x, residual (or null), y [n, hidden]. */
  public float[] forward(KvCache cache, int layerIndex, float[] x, int n, float[] residual) {
    return forwardArrays(x, n, residual, cache, on(cache, layerIndex));
  }

  /** On the host, in place on direct buffers of {@code dtype}. */
  public void forward(KvCache cache, int layerIndex, Buffer x, long n, Buffer residual, Buffer y,
      DType dtype) {
    forwardBuffers(x, n, residual, y, dtype, cache, on(cache, layerIndex));
  }

  /** On the GPU: device addresses, asynchronous on {@code stream}. */
  public void forwardDevice(KvCache cache, int layerIndex, long x, long n, long residual, long y,
      DType dtype, long stream) {
    forwardAddresses(x, n, residual, y, dtype, stream, cache, on(cache, layerIndex));
  }

  /** The forward of this block on {@code cache}, layer {@code layerIndex}. */
  private Activations.Call on(KvCache cache, int layerIndex) {
    return (x, n, residual, y, dtype, stream) -> SpinferNative.attention_forward(context.pointer(),
        pointer(), cachePointer(cache), layerIndex, x, n, residual, y,
        Native.nonNull(dtype, "dtype").raw(), stream);
  }

  /** The cache's C handle, 0 for null (the library reports it). */
  static long cachePointer(KvCache cache) {
    return cache == null ? 0 : cache.pointer();
  }
}
