/*
 * Data and checks of the cross-language scenario (examples/SCENARIO.md), shared by
 * linked.c and dlopen.c so that both examples show only how they reach the library.
 * Pure C99, no spinfer calls.
 */
#ifndef SPINFER_EXAMPLE_SCENARIO_H
#define SPINFER_EXAMPLE_SCENARIO_H

#include <math.h>
#include <stdio.h>

enum { SCENARIO_M = 96, SCENARIO_K = 200, SCENARIO_N = 5, SCENARIO_NNZ = 9036 };

/* sum(Y) that every language prints (exact: Y holds multiples of 1/32). */
#define SCENARIO_CHECKSUM (-26.9375)

/* W[i][j]: half the entries kept, each a multiple of 1/8 in [-1, 1] (exact in fp16). */
static float scenario_weight(int i, int j) {
  return (i * 7 + j * 13) % 10 < 5 ? (float)((i * 131 + j * 71) % 17 - 8) / 8.0f : 0.0f;
}

/* X[n][j], multiples of 1/4. */
static float scenario_input(int n, int j) { return (float)((n * 29 + j * 37) % 11 - 5) / 4.0f; }

/* b[i], multiples of 1/2. */
static float scenario_bias(int i) { return (float)(i % 7 - 3) / 2.0f; }

/* Fills w [M*K], x [N*K], bias [M]; returns the number of non-zeros of W. */
static long scenario_fill(float* w, float* x, float* bias) {
  long nnz = 0;
  for (int i = 0; i < SCENARIO_M; ++i)
    for (int j = 0; j < SCENARIO_K; ++j) {
      w[i * SCENARIO_K + j] = scenario_weight(i, j);
      nnz += w[i * SCENARIO_K + j] != 0.0f;
    }
  for (int n = 0; n < SCENARIO_N; ++n)
    for (int j = 0; j < SCENARIO_K; ++j) x[n * SCENARIO_K + j] = scenario_input(n, j);
  for (int i = 0; i < SCENARIO_M; ++i) bias[i] = scenario_bias(i);
  return nnz;
}

/*
 * Compares y [N*M] with a float64 reference exactly (every product is a multiple of
 * 1/32 and every partial sum small, so fp32 accumulation is exact). Prints the first
 * mismatch and returns 0 on failure, also when sum(y) is not SCENARIO_CHECKSUM; returns
 * 1 and sets *checksum = sum(y) otherwise.
 */
static int scenario_check(const float* y, double* checksum) {
  double sum = 0.0;
  for (int n = 0; n < SCENARIO_N; ++n)
    for (int i = 0; i < SCENARIO_M; ++i) {
      double ref = scenario_bias(i);
      for (int j = 0; j < SCENARIO_K; ++j) ref += (double)scenario_input(n, j) * scenario_weight(i, j);
      double got = y[n * SCENARIO_M + i];
      if (!(got == ref)) { /* also catches NaN from the poisoned output */
        fprintf(stderr, "Y[%d][%d] = %.9g, reference %.9g\n", n, i, got, ref);
        return 0;
      }
      sum += got;
    }
  *checksum = sum;
  if (sum != SCENARIO_CHECKSUM) {
    fprintf(stderr, "checksum %.6f, SCENARIO.md says %.6f\n", sum, SCENARIO_CHECKSUM);
    return 0;
  }
  return 1;
}

#endif /* SPINFER_EXAMPLE_SCENARIO_H */
