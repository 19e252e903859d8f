package io.spinfer;

import io.spinfer.jni.SpinferNative;
import io.spinfer.jni.spinfer_decoder_config_t;
import io.spinfer.jni.spinfer_decoder_weights_t;
import java.lang.ref.Reference;
import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Full decoder layer (spinfer_decoder_layer_t): norm -> attention -> residual -> norm
 * -> MLP -> residual, OPT or LLaMA style, over a {@link KvCache}. Refers to its
 * matrices and context until closed.
 */
public final class DecoderLayer extends NativeLayer {
  /**
   * Sizes and options: the fields of spinfer_decoder_config_t (spinfer.h documents each)
   * as fluent setters in camelCase. Defaults are the library's; hiddenSize,
   * intermediateSize and numHeads must be set.
   */
  public static final class Config {
    Arch arch;
    long hiddenSize;
    long intermediateSize;
    int numHeads;
    int numKvHeads;
    int headDim;
    double normEps;
    double ropeTheta;
    Activation activation;
    long maxTokens;
    boolean fuseProjections;

    /** The library's defaults (spinfer_decoder_config_init). */
    public Config() {
      spinfer_decoder_config_t raw = new spinfer_decoder_config_t();
      try {
        arch = Arch.of(raw.getArch());
        hiddenSize = raw.getHidden_size();
        intermediateSize = raw.getIntermediate_size();
        numHeads = raw.getNum_heads();
        numKvHeads = raw.getNum_kv_heads();
        headDim = raw.getHead_dim();
        normEps = raw.getNorm_eps();
        ropeTheta = raw.getRope_theta();
        activation = Activation.of(raw.getActivation());
        maxTokens = raw.getMax_tokens();
        fuseProjections = raw.getFuse_projections() != 0;
      } finally {
        raw.delete();
      }
    }

    public Config arch(Arch v) { arch = Native.nonNull(v, "arch"); return this; }
    public Config hiddenSize(long v) { hiddenSize = v; return this; }
    public Config intermediateSize(long v) { intermediateSize = v; return this; }
    public Config numHeads(int v) { numHeads = v; return this; }
    /** 0 = numHeads. */
    public Config numKvHeads(int v) { numKvHeads = v; return this; }
    /** 0 = hidden / numHeads. */
    public Config headDim(int v) { headDim = v; return this; }
    public Config normEps(double v) { normEps = v; return this; }
    /** LLaMA only. */
    public Config ropeTheta(double v) { ropeTheta = v; return this; }
    /** NONE = the family's: ReLU (OPT), SiLU (LLaMA). */
    public Config activation(Activation v) { activation = Native.nonNull(v, "activation"); return this; }
    public Config maxTokens(long v) { maxTokens = v; return this; }
    public Config fuseProjections(boolean v) { fuseProjections = v; return this; }

    spinfer_decoder_config_t toRaw() {
      spinfer_decoder_config_t raw = new spinfer_decoder_config_t();
      raw.setArch(arch.raw());
      raw.setHidden_size(hiddenSize);
      raw.setIntermediate_size(intermediateSize);
      raw.setNum_heads(numHeads);
      raw.setNum_kv_heads(numKvHeads);
      raw.setHead_dim(headDim);
      raw.setNorm_eps(normEps);
      raw.setRope_theta(ropeTheta);
      raw.setActivation(activation.raw());
      raw.setMax_tokens(maxTokens);
      raw.setFuse_projections(fuseProjections ? 1 : 0);
      return raw;
    }
  }

  /**
   * Weights of one layer. Matrices are referred to; dense arrays are F32, copied at
   * creation. OPT: up = fc1, down = fc2, gate null, every bias and both norm biases
   * set (LayerNorm). LLaMA: gate/up/down, biases null (attention biases allowed),
   * norm biases null (RMSNorm). attnNorm is applied before attention, mlpNorm before
   * the MLP.
   */
  public static final class Weights {
    public Matrix qProj, kProj, vProj, oProj, gateProj, upProj, downProj;
    public float[] qBias, kBias, vBias, oBias, upBias, downBias;
    public float[] attnNormWeight, attnNormBias, mlpNormWeight, mlpNormBias;
  }

  private DecoderLayer(long pointer, Dependencies dependencies, Context context, long hidden) {
    super(pointer, p -> SpinferNative.decoder_layer_destroy(p), "DecoderLayer", dependencies,
        context, hidden, hidden);
  }

  /** A decoder layer ({@code config} gives the sizes). */
  public static DecoderLayer create(Context ctx, Weights weights, Config config) {
    Native.nonNull(ctx, "ctx");
    Native.nonNull(weights, "weights");
    Native.nonNull(config, "config");
    Weights w = weights;
    Dependencies dependencies = new Dependencies().add(ctx.handle()).add(w.qProj).add(w.kProj)
        .add(w.vProj).add(w.oProj).add(w.gateProj).add(w.upProj).add(w.downProj);
    List<ByteBuffer> dense = new ArrayList<>(); // kept reachable until the copy is made
    spinfer_decoder_weights_t raw = new spinfer_decoder_weights_t();
    spinfer_decoder_config_t rawConfig = config.toRaw();
    try {
      return Native.onFailure(() -> {
        raw.setQ_proj(Matrix.pointerOf(w.qProj));
        raw.setK_proj(Matrix.pointerOf(w.kProj));
        raw.setV_proj(Matrix.pointerOf(w.vProj));
        raw.setO_proj(Matrix.pointerOf(w.oProj));
        raw.setGate_proj(Matrix.pointerOf(w.gateProj));
        raw.setUp_proj(Matrix.pointerOf(w.upProj));
        raw.setDown_proj(Matrix.pointerOf(w.downProj));
        long h = config.hiddenSize;
        long inter = config.intermediateSize;
        raw.setQ_bias(dense(dense, w.qBias, w.qProj == null ? -1 : w.qProj.rows(), "q bias"));
        raw.setK_bias(dense(dense, w.kBias, w.kProj == null ? -1 : w.kProj.rows(), "k bias"));
        raw.setV_bias(dense(dense, w.vBias, w.vProj == null ? -1 : w.vProj.rows(), "v bias"));
        raw.setO_bias(dense(dense, w.oBias, h, "o bias"));
        raw.setUp_bias(dense(dense, w.upBias, inter, "up bias"));
        raw.setDown_bias(dense(dense, w.downBias, h, "down bias"));
        raw.setAttn_norm_weight(dense(dense, w.attnNormWeight, h, "attention norm weight"));
        raw.setAttn_norm_bias(dense(dense, w.attnNormBias, h, "attention norm bias"));
        raw.setMlp_norm_weight(dense(dense, w.mlpNormWeight, h, "MLP norm weight"));
        raw.setMlp_norm_bias(dense(dense, w.mlpNormBias, h, "MLP norm bias"));
        raw.setDense_dtype(DType.F32.raw());
        long pointer = Native.out(out -> SpinferNative.decoder_layer_create(ctx.pointer(), out, raw, rawConfig, 0));
        return new DecoderLayer(pointer, dependencies, ctx, h);
      }, dependencies::release);
    } finally {
      raw.delete();
      rawConfig.delete();
      Reference.reachabilityFence(dense);
      Reference.reachabilityFence(weights);
      Reference.reachabilityFence(ctx);
    }
  }

  /** Hidden size: features of x and y. */
  public long hiddenSize() {
    return outFeatures;
  }

  /** F32 on the host for the cache's current step, cache layer {@code layerIndex}: x, y [n, hidden]. */
  public float[] forward(KvCache cache, int layerIndex, float[] x, int n) {
    return forwardArrays(x, n, null, cache, on(cache, layerIndex));
  }

  /** On the host, in place on direct buffers of {@code dtype}; y may be x. */
  public void forward(KvCache cache, int layerIndex, Buffer x, long n, Buffer y, DType dtype) {
    forwardBuffers(x, n, null, y, dtype, cache, on(cache, layerIndex));
  }

  /** On the GPU: device addresses, asynchronous on {@code stream}. */
  public void forwardDevice(KvCache cache, int layerIndex, long x, long n, long y, DType dtype,
      long stream) {
    forwardAddresses(x, n, 0, y, dtype, stream, cache, on(cache, layerIndex));
  }

  /** The forward of this layer on {@code cache}, layer {@code layerIndex} (no residual: it adds its own). */
  private Activations.Call on(KvCache cache, int layerIndex) {
    return (x, n, residual, y, dtype, stream) -> SpinferNative.decoder_layer_forward(context.pointer(),
        pointer(), Attention.cachePointer(cache), layerIndex, x, n, y,
        Native.nonNull(dtype, "dtype").raw(), stream);
  }

  /** Copies a dense F32 array (null stays 0) after checking its length when it is known (>= 0). */
  private static long dense(List<ByteBuffer> keep, float[] values, long length, String name) {
    if (values == null) return 0;
    if (length >= 0) HostData.checkLength(values.length, 1, length, name);
    ByteBuffer copy = HostData.copyOf(values);
    keep.add(copy);
    return HostData.addressOf(copy);
  }
}
