package io.spinfer;

import io.spinfer.jni.SpinferNative;
import io.spinfer.jni.spinfer_kv_cache_config_t;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;

/**
 * Paged key/value cache for several sequences and all layers of a model
 * (spinfer_kv_cache_t): a pool of blocks of {@code blockSize} tokens; each sequence
 * slot 0 .. maxSequences-1 owns a list of blocks. Used by one thread at a time.
 * A step starts with {@link #beginStep}, then every attention or decoder-layer
 * forward on the cache (one per layer) processes that step's tokens.
 */
public final class KvCache extends NativeObject {
  /**
   * Cache shape and sizes: the fields of spinfer_kv_cache_config_t (spinfer.h documents
   * each) as fluent setters in camelCase. Defaults are the library's; numLayers,
   * numKvHeads, headDim and numBlocks must be set.
   */
  public static final class Config {
    int numLayers;
    int numKvHeads;
    int headDim;
    int blockSize;
    long numBlocks;
    int maxSequences;
    long maxSequenceLength;
    DType dtype;

    /** The library's defaults (spinfer_kv_cache_config_init); layers, heads, head_dim, blocks are 0. */
    public Config() {
      spinfer_kv_cache_config_t raw = new spinfer_kv_cache_config_t();
      try {
        numLayers = raw.getNum_layers();
        numKvHeads = raw.getNum_kv_heads();
        headDim = raw.getHead_dim();
        blockSize = raw.getBlock_size();
        numBlocks = raw.getNum_blocks();
        maxSequences = raw.getMax_sequences();
        maxSequenceLength = raw.getMax_sequence_length();
        dtype = DType.of(raw.getDtype());
      } finally {
        raw.delete();
      }
    }

    public Config numLayers(int v) { numLayers = v; return this; }
    public Config numKvHeads(int v) { numKvHeads = v; return this; }
    public Config headDim(int v) { headDim = v; return this; }
    public Config blockSize(int v) { blockSize = v; return this; }
    public Config numBlocks(long v) { numBlocks = v; return this; }
    public Config maxSequences(int v) { maxSequences = v; return this; }
    public Config maxSequenceLength(long v) { maxSequenceLength = v; return this; }
    public Config dtype(DType v) { dtype = Native.nonNull(v, "dtype"); return this; }

    spinfer_kv_cache_config_t toRaw() {
      spinfer_kv_cache_config_t raw = new spinfer_kv_cache_config_t();
      raw.setNum_layers(numLayers);
      raw.setNum_kv_heads(numKvHeads);
      raw.setHead_dim(headDim);
      raw.setBlock_size(blockSize);
      raw.setNum_blocks(numBlocks);
      raw.setMax_sequences(maxSequences);
      raw.setMax_sequence_length(maxSequenceLength);
      raw.setDtype(dtype.raw());
      return raw;
    }
  }

  private KvCache(long pointer, Dependencies dependencies) {
    super(pointer, p -> SpinferNative.kv_cache_destroy(p), "KvCache", dependencies);
  }

  /** A cache on the context's device (host memory for a host context). */
  public static KvCache create(Context ctx, Config config) {
    Native.nonNull(ctx, "ctx");
    Dependencies dependencies = new Dependencies().add(ctx.handle());
    spinfer_kv_cache_config_t raw = Native.nonNull(config, "config").toRaw();
    try {
      return Native.onFailure(() -> new KvCache(Native.out(
          out -> SpinferNative.kv_cache_create(ctx.pointer(), out, raw)), dependencies),
          dependencies::release);
    } finally {
      raw.delete();
      Reference.reachabilityFence(ctx);
    }
  }

  /**
   * Starts a step: sequence {@code seqIds[i]} receives {@code newTokens[i]} (>= 1) new
   * tokens (prefill: the prompt length; decode: 1); the following forwards process
   * sum(newTokens) tokens, sequence by sequence. OUT_OF_MEMORY when the pool runs out
   * (nothing changes then).
   */
  public void beginStep(int[] seqIds, int[] newTokens, long stream) {
    int count = Activations.stepCount(seqIds, newTokens, "newTokens");
    ByteBuffer ids = Activations.copyOf(seqIds);
    ByteBuffer counts = Activations.copyOf(newTokens);
    try {
      Native.check(SpinferNative.kv_cache_begin_step(pointer(), HostData.addressOf(ids),
          HostData.addressOf(counts), count, stream));
    } finally {
      Reference.reachabilityFence(ids);
      Reference.reachabilityFence(counts);
      Reference.reachabilityFence(this);
    }
  }

  /** {@link #beginStep(int[], int[], long)} on the default stream. */
  public void beginStep(int[] seqIds, int[] newTokens) {
    beginStep(seqIds, newTokens, 0);
  }

  /** Tokens stored for sequence {@code seq}. */
  public long sequenceLength(int seq) {
    return query((p, length) -> SpinferNative.kv_cache_sequence_length(p, seq, length));
  }

  /** Returns the blocks of sequence {@code seq} to the pool; its length becomes 0. */
  public void releaseSequence(int seq) {
    call(p -> SpinferNative.kv_cache_release_sequence(p, seq));
  }

  /** Unused blocks in the pool. */
  public long freeBlocks() {
    return query((p, count) -> SpinferNative.kv_cache_free_blocks(p, count));
  }
}
