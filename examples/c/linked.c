/*
 * The cross-language scenario (examples/SCENARIO.md) in C, linked against libspinfer:
 * encode a half-sparse 96 x 200 matrix, save it to a safetensors file, load it back,
 * compute Y = X * W^T + b on the host and compare with a float64 reference.
 *
 * Build: cc linked.c -I<repo>/capi/include -L<build>/capi -lspinfer -lm
 * Run:   ./linked          (prints "checksum = -26.937500", exits 0 on success)
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "scenario.h"
#include "spinfer.h"

/* Prints the failed call with the library's message and jumps to cleanup. */
#define TRY(call)                                                                       \
  do {                                                                                  \
    spinfer_status_t status_ = (call);                                                  \
    if (status_ != SPINFER_STATUS_SUCCESS) {                                            \
      fprintf(stderr, "%s failed: %s: %s\n", #call, spinfer_status_string(status_),     \
              spinfer_last_error_message());                                            \
      goto done;                                                                        \
    }                                                                                   \
  } while (0)

int main(void) {
  static float w[SCENARIO_M * SCENARIO_K], x[SCENARIO_N * SCENARIO_K], bias[SCENARIO_M];
  static float y[SCENARIO_N * SCENARIO_M];
  spinfer_matrix_t *encoded = NULL, *loaded = NULL;
  spinfer_context_t* ctx = NULL;
  char path[] = "/tmp/spinfer-linked-XXXXXX";
  int fd = -1, ok = 0;
  double checksum = 0.0;

  long nnz = scenario_fill(w, x, bias);

  /* 1-2. Encode with fp16 storage; the library must count the same non-zeros. */
  TRY(spinfer_matrix_encode(&encoded, w, SPINFER_DTYPE_F32, SCENARIO_M, SCENARIO_K,
                            SCENARIO_K, SPINFER_DTYPE_F16));
  spinfer_matrix_info_t info = {.struct_size = sizeof info};
  TRY(spinfer_matrix_get_info(encoded, &info));
  if (info.nnz != nnz || nnz != SCENARIO_NNZ) {
    fprintf(stderr, "nnz: library %lld, counted %ld, expected %d\n", (long long)info.nnz, nnz,
            SCENARIO_NNZ);
    goto done;
  }

  /* 3. Save under "w" to a temporary safetensors file, load it back. */
  fd = mkstemp(path);
  if (fd < 0) {
    perror("mkstemp");
    goto done;
  }
  const char* name = "w";
  TRY(spinfer_save(path, (const spinfer_matrix_t* const*)&encoded, &name, 1));
  TRY(spinfer_load(&loaded, path, "w"));

  /* 4-5. Y = X * W^T + b in fp32 on a host context; y poisoned first. */
  for (int e = 0; e < SCENARIO_N * SCENARIO_M; ++e) y[e] = NAN;
  TRY(spinfer_context_create(&ctx, SPINFER_BACKEND_HOST));
  TRY(spinfer_spmm(ctx, loaded, x, SCENARIO_N, SCENARIO_K, bias, y, SCENARIO_M,
                   SPINFER_DTYPE_F32, NULL));

  /* 6. Exact comparison with the float64 reference. */
  if (!scenario_check(y, &checksum)) goto done;

  /* Bad input is a status plus a message, never a crash: fp32 is not a storage dtype. */
  spinfer_matrix_t* rejected = NULL;
  spinfer_status_t status = spinfer_matrix_encode(&rejected, w, SPINFER_DTYPE_F32, SCENARIO_M,
                                                  SCENARIO_K, SCENARIO_K, SPINFER_DTYPE_F32);
  if (status != SPINFER_STATUS_UNSUPPORTED_DTYPE || rejected != NULL ||
      spinfer_last_error_message()[0] == '\0') {
    fprintf(stderr, "fp32 storage was not rejected as UNSUPPORTED_DTYPE with a message\n");
    goto done;
  }
  printf("rejected as expected: %s: %s\n", spinfer_status_string(status),
         spinfer_last_error_message());

  printf("spinfer %s C (linked) scenario: nnz = %ld, Y == reference\n", spinfer_version(), nnz);
  printf("checksum = %.6f\n", checksum);
  ok = 1;

done:
  spinfer_context_destroy(ctx);
  spinfer_matrix_destroy(loaded);
  spinfer_matrix_destroy(encoded);
  if (fd >= 0) {
    close(fd);
    unlink(path);
  }
  return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
