package io.spinfer;

import io.spinfer.jni.SpinferNative;
import io.spinfer.jni.spinfer_model_config_t;
import io.spinfer.jni.spinfer_model_info_t;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * A decoder-only language model (OPT or LLaMA family) with its own KV cache
 * (spinfer_model_t), loaded from a directory holding a Hugging Face config.json and
 * safetensors files with spinfer matrices (tools/spinfer_convert.py writes one).
 * Used by one thread at a time; close it before its context (or let it keep the
 * context alive, which it does).
 */
public final class Model extends NativeObject {
  /**
   * Runtime options: the fields of spinfer_model_config_t (spinfer.h documents each) as
   * fluent setters in camelCase. Defaults are the library's (spinfer_model_config_init).
   */
  public static final class Config {
    int maxSequences;
    long maxBatchTokens;
    long maxSequenceLength;
    int kvBlockSize;
    long kvNumBlocks;
    boolean useCudaGraphs;

    /** The library's defaults. */
    public Config() {
      spinfer_model_config_t raw = new spinfer_model_config_t();
      try {
        maxSequences = raw.getMax_sequences();
        maxBatchTokens = raw.getMax_batch_tokens();
        maxSequenceLength = raw.getMax_sequence_length();
        kvBlockSize = raw.getKv_block_size();
        kvNumBlocks = raw.getKv_num_blocks();
        useCudaGraphs = raw.getUse_cuda_graphs() != 0;
      } finally {
        raw.delete();
      }
    }

    /** Sequence slots of the KV cache. */
    public Config maxSequences(int v) { maxSequences = v; return this; }
    /** Most tokens in one prefill or decode call. */
    public Config maxBatchTokens(long v) { maxBatchTokens = v; return this; }
    /** 0 = the model's max_position_embeddings. */
    public Config maxSequenceLength(long v) { maxSequenceLength = v; return this; }
    /** Tokens per KV block. */
    public Config kvBlockSize(int v) { kvBlockSize = v; return this; }
    /** 0 = enough for every slot at full length. */
    public Config kvNumBlocks(long v) { kvNumBlocks = v; return this; }
    /** CUDA: replay decode steps from CUDA graphs. */
    public Config useCudaGraphs(boolean v) { useCudaGraphs = v; return this; }

    spinfer_model_config_t toRaw() {
      spinfer_model_config_t raw = new spinfer_model_config_t();
      raw.setMax_sequences(maxSequences);
      raw.setMax_batch_tokens(maxBatchTokens);
      raw.setMax_sequence_length(maxSequenceLength);
      raw.setKv_block_size(kvBlockSize);
      raw.setKv_num_blocks(kvNumBlocks);
      raw.setUse_cuda_graphs(useCudaGraphs ? 1 : 0);
      return raw;
    }
  }

  private final Context context;
  private final ModelInfo info;

  private Model(long pointer, Dependencies dependencies, Context context, ModelInfo info) {
    super(pointer, p -> SpinferNative.model_destroy(p), "Model", dependencies);
    this.context = context;
    this.info = info;
  }

  /**
   * Loads the model in {@code dir} onto the context's device ({@code config} may be
   * null). Bad or missing fields give CORRUPT_DATA / NOT_FOUND naming the field.
   */
  public static Model load(Context ctx, Path dir, Config config) {
    Native.nonNull(ctx, "ctx");
    Dependencies dependencies = new Dependencies().add(ctx.handle());
    spinfer_model_config_t raw = (config == null ? new Config() : config).toRaw();
    try {
      return Native.onFailure(() -> {
        long pointer = Native.out(out -> SpinferNative.model_load(ctx.pointer(), out,
            dir == null ? null : dir.toString(), raw, 0));
        ModelInfo info = Native.onFailure(() -> readInfo(pointer),
            () -> SpinferNative.model_destroy(pointer));
        return new Model(pointer, dependencies, ctx, info);
      }, dependencies::release);
    } finally {
      raw.delete();
      Reference.reachabilityFence(ctx);
    }
  }

  /** Facts about the model (sizes, dtype, bytes). */
  public ModelInfo info() {
    return info;
  }

  /**
   * Appends {@code tokens} to sequence {@code seq}, runs them, and returns the logits
   * of the last token ([vocabSize]).
   */
  public float[] prefill(int seq, int[] tokens) {
    ByteBuffer t = Activations.copyOf(tokens);
    ByteBuffer logits = HostData.allocate(info.vocabSize() * 4);
    try {
      Native.check(SpinferNative.model_prefill(context.pointer(), pointer(), seq,
          HostData.addressOf(t), tokens == null ? 0 : tokens.length, HostData.addressOf(logits), 0));
    } finally {
      Reference.reachabilityFence(t);
      Reference.reachabilityFence(logits);
      Reference.reachabilityFence(this);
    }
    float[] out = new float[Math.toIntExact(info.vocabSize())];
    logits.asFloatBuffer().get(out);
    return out;
  }

  /**
   * One decode step: {@code tokens[i]} is appended to sequence {@code seqIds[i]} (each
   * listed once); returns the next-token logits [seqIds.length, vocabSize].
   */
  public float[] decodeStep(int[] seqIds, int[] tokens) {
    int count = Activations.stepCount(seqIds, tokens, "tokens");
    ByteBuffer ids = Activations.copyOf(seqIds);
    ByteBuffer t = Activations.copyOf(tokens);
    ByteBuffer logits = HostData.allocate((long) count * info.vocabSize() * 4);
    try {
      Native.check(SpinferNative.model_decode_step(context.pointer(), pointer(),
          HostData.addressOf(ids), HostData.addressOf(t), count, HostData.addressOf(logits), 0));
    } finally {
      Reference.reachabilityFence(ids);
      Reference.reachabilityFence(t);
      Reference.reachabilityFence(logits);
      Reference.reachabilityFence(this);
    }
    float[] out = new float[Math.toIntExact(count * info.vocabSize())];
    logits.asFloatBuffer().get(out);
    return out;
  }

  /**
   * Greedy generation for sequence {@code seq}: prefill {@code prompt}, then up to
   * {@code maxNewTokens} arg-max steps, stopping after {@code eosToken} (-1: never).
   * Returns the generated tokens.
   */
  public int[] generateGreedy(int seq, int[] prompt, int maxNewTokens, int eosToken) {
    ByteBuffer p = Activations.copyOf(prompt);
    ByteBuffer out = HostData.allocate((long) Math.max(maxNewTokens, 0) * 4);
    long[] generated = new long[1];
    try {
      Native.check(SpinferNative.model_generate_greedy(context.pointer(), pointer(), seq,
          HostData.addressOf(p), prompt == null ? 0 : prompt.length, maxNewTokens, eosToken,
          HostData.addressOf(out), generated, 0));
    } finally {
      Reference.reachabilityFence(p);
      Reference.reachabilityFence(out);
      Reference.reachabilityFence(this);
    }
    int[] tokens = new int[Math.toIntExact(generated[0])];
    out.asIntBuffer().get(tokens);
    return tokens;
  }

  /** Forgets sequence {@code seq}: its KV blocks return to the pool. */
  public void releaseSequence(int seq) {
    call(p -> SpinferNative.model_release_sequence(p, seq));
  }

  /** Current length of sequence {@code seq} in tokens. */
  public long sequenceLength(int seq) {
    return query((p, length) -> SpinferNative.model_sequence_length(p, seq, length));
  }

  private static ModelInfo readInfo(long pointer) {
    spinfer_model_info_t raw = new spinfer_model_info_t();
    try {
      Native.check(SpinferNative.model_get_info(pointer, raw));
      return new ModelInfo(Arch.of(raw.getArch()), raw.getVocab_size(), raw.getHidden_size(),
          raw.getIntermediate_size(), raw.getNum_layers(), raw.getNum_heads(), raw.getNum_kv_heads(),
          raw.getHead_dim(), raw.getMax_position_embeddings(), DType.of(raw.getDtype()),
          raw.getWeight_bytes(), raw.getDense_weight_bytes(), raw.getKv_cache_bytes(),
          raw.getKv_cache_tokens());
    } finally {
      raw.delete();
    }
  }
}
