package io.spinfer;

/**
 * Facts about a loaded model (spinfer_model_info_t).
 *
 * @param arch                  decoder family
 * @param vocabSize             tokens in the vocabulary (logits per token)
 * @param hiddenSize            hidden features
 * @param intermediateSize      MLP features
 * @param numLayers             decoder layers
 * @param numHeads              query heads
 * @param numKvHeads            key/value heads
 * @param headDim               elements per head
 * @param maxPositionEmbeddings longest position
 * @param dtype                 storage dtype of the weights
 * @param weightBytes           encoded matrices + dense tensors, as loaded
 * @param denseWeightBytes      the same model with every matrix dense
 * @param kvCacheBytes          KV cache pool
 * @param kvCacheTokens         tokens the KV cache holds, all sequences together
 */
public record ModelInfo(Arch arch, long vocabSize, long hiddenSize, long intermediateSize,
    long numLayers, int numHeads, int numKvHeads, int headDim, long maxPositionEmbeddings,
    DType dtype, long weightBytes, long denseWeightBytes, long kvCacheBytes,
    long kvCacheTokens) {}
