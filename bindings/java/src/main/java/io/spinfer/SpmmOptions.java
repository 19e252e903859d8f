package io.spinfer;

/**
 * Expert overrides for the CUDA SpMM (spinfer_spmm_options_t); 0 lets the library choose.
 *
 * @param splitK number of K slices
 * @param tileN  N columns per thread block: 8, 16, 32 or 64
 */
public record SpmmOptions(int splitK, int tileN) {
  /** Everything chosen by the library. */
  public static final SpmmOptions DEFAULT = new SpmmOptions(0, 0);
}
