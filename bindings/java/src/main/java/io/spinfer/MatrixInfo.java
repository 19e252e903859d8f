package io.spinfer;

/**
 * Facts about an encoded matrix (spinfer_matrix_info_t).
 *
 * @param rows             M, output features
 * @param cols             K, input features
 * @param dtype            storage dtype of the non-zeros (F16 or BF16)
 * @param location         host or device
 * @param device           CUDA device ordinal, -1 on the host
 * @param formatVersion    TCA-BME layout version (docs/format.md)
 * @param nnz              number of stored non-zeros
 * @param sparsity         1 - nnz / (rows * cols)
 * @param bytes            bytes of values + bitmaps + group offsets
 * @param denseBytes       rows * cols * 2
 * @param compressionRatio denseBytes / bytes
 * @param valuesCount      elements of the values array (2 bytes each, padding included)
 * @param bitmapsCount     uint64 words of the bitmaps array
 * @param offsetsCount     uint64 entries of the group offsets array
 */
public record MatrixInfo(long rows, long cols, DType dtype, Location location, int device,
    long formatVersion, long nnz, double sparsity, long bytes, long denseBytes,
    double compressionRatio, long valuesCount, long bitmapsCount, long offsetsCount) {}
