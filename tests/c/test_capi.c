/* C API tests in C99: results against a double reference, and every entry point
 * called with NULL and bad arguments. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spinfer.h"

static int failures = 0;
#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                       \
    }                                                                   \
  } while (0)
/* The call fails with `status` and leaves a non-empty message. */
#define CHECK_STATUS(call, status)                                                 \
  do {                                                                             \
    spinfer_status_t s_ = (call);                                                  \
    if (s_ != (status)) {                                                          \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s (%s)\n", __FILE__, __LINE__, #call, \
              spinfer_status_string(s_), spinfer_status_string(status),            \
              spinfer_last_error_message());                                      \
      ++failures;                                                                  \
    } else if ((status) != SPINFER_STATUS_SUCCESS && spinfer_last_error_message()[0] == 0) { \
      fprintf(stderr, "%s:%d: %s gave no message\n", __FILE__, __LINE__, #call);    \
      ++failures;                                                                  \
    }                                                                              \
  } while (0)

static unsigned long long rng_state = 12345;
static double uniform(void) { /* xorshift64*, in [0, 1) */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void test_versions(void) {
  char expect[32];
  snprintf(expect, sizeof expect, "%d.%d.%d", SPINFER_VERSION_MAJOR, SPINFER_VERSION_MINOR,
           SPINFER_VERSION_PATCH);
  CHECK(strcmp(spinfer_version(), expect) == 0);
  CHECK(strcmp(spinfer_status_string(SPINFER_STATUS_CORRUPT_DATA), "SPINFER_STATUS_CORRUPT_DATA") == 0);
  CHECK(strcmp(spinfer_status_string((spinfer_status_t)999), "SPINFER_STATUS_UNKNOWN") == 0);
  CHECK(spinfer_dtype_size(SPINFER_DTYPE_F32) == 4);
  CHECK(spinfer_dtype_size(SPINFER_DTYPE_BF16) == 2);
  CHECK(spinfer_dtype_size((spinfer_dtype_t)5) == 0);
}

static void test_context(void) {
  spinfer_context_t* ctx = (spinfer_context_t*)1;
  spinfer_backend_t b;
  spinfer_context_config_t cfg;
  CHECK_STATUS(spinfer_context_create(NULL, SPINFER_BACKEND_HOST), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(spinfer_context_create(&ctx, (spinfer_backend_t)7), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(ctx == NULL);
  CHECK_STATUS(spinfer_context_config_init(NULL), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(spinfer_context_config_init(&cfg), SPINFER_STATUS_SUCCESS);
  cfg.struct_size = 4;
  CHECK_STATUS(spinfer_context_create_ex(&ctx, &cfg), SPINFER_STATUS_INVALID_ARGUMENT);
  spinfer_context_config_init(&cfg);
  cfg.host_threads = -1;
  CHECK_STATUS(spinfer_context_create_ex(&ctx, &cfg), SPINFER_STATUS_INVALID_ARGUMENT);

  /* Split-K workspace slots: 0 .. 64; a config from an older header (ending before the
     field) gets the default. */
  CHECK_STATUS(spinfer_context_config_init(&cfg), SPINFER_STATUS_SUCCESS);
  CHECK(cfg.spmm_workspace_slots == 4);
  cfg.backend = SPINFER_BACKEND_HOST;
  cfg.spmm_workspace_slots = -1;
  CHECK_STATUS(spinfer_context_create_ex(&ctx, &cfg), SPINFER_STATUS_INVALID_ARGUMENT);
  cfg.spmm_workspace_slots = 65;
  CHECK_STATUS(spinfer_context_create_ex(&ctx, &cfg), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(spinfer_last_error_message(), "spmm_workspace_slots") != NULL);
  cfg.spmm_workspace_slots = 0;
  /* Lazy slots: 0 or 1 (default 0); a config ending before the field gets 0. */
  CHECK(cfg.spmm_workspace_lazy == 0);
  cfg.spmm_workspace_lazy = 2;
  CHECK_STATUS(spinfer_context_create_ex(&ctx, &cfg), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(spinfer_last_error_message(), "spmm_workspace_lazy must be 0 or 1, got 2") != NULL);
  cfg.struct_size = offsetof(spinfer_context_config_t, spmm_workspace_lazy);
  CHECK_STATUS(spinfer_context_create_ex(&ctx, &cfg), SPINFER_STATUS_SUCCESS);
  CHECK_STATUS(spinfer_context_destroy(ctx), SPINFER_STATUS_SUCCESS);
  cfg.struct_size = sizeof cfg;
  cfg.spmm_workspace_lazy = 1;
  CHECK_STATUS(spinfer_context_create_ex(&ctx, &cfg), SPINFER_STATUS_SUCCESS);
  /* A host context has no workspace: releasing a stream does nothing. */
  CHECK_STATUS(spinfer_context_release_stream(ctx, NULL), SPINFER_STATUS_SUCCESS);
  CHECK_STATUS(spinfer_context_destroy(ctx), SPINFER_STATUS_SUCCESS);
  CHECK_STATUS(spinfer_context_release_stream(NULL, NULL), SPINFER_STATUS_INVALID_ARGUMENT);
  cfg.spmm_workspace_slots = -7; /* beyond an older caller's struct: not read */
  cfg.struct_size = offsetof(spinfer_context_config_t, spmm_workspace_slots);
  CHECK_STATUS(spinfer_context_create_ex(&ctx, &cfg), SPINFER_STATUS_SUCCESS);
  CHECK_STATUS(spinfer_context_destroy(ctx), SPINFER_STATUS_SUCCESS);
  cfg.struct_size = offsetof(spinfer_context_config_t, host_threads);
  CHECK_STATUS(spinfer_context_create_ex(&ctx, &cfg), SPINFER_STATUS_INVALID_ARGUMENT);

  CHECK_STATUS(spinfer_context_create(&ctx, SPINFER_BACKEND_AUTO), SPINFER_STATUS_SUCCESS);
  CHECK_STATUS(spinfer_context_get_backend(ctx, &b), SPINFER_STATUS_SUCCESS);
  CHECK(b == SPINFER_BACKEND_HOST || b == SPINFER_BACKEND_CUDA);
  CHECK_STATUS(spinfer_context_get_backend(ctx, NULL), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(spinfer_context_get_backend(NULL, &b), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(spinfer_context_destroy(ctx), SPINFER_STATUS_SUCCESS);
  CHECK_STATUS(spinfer_context_destroy(NULL), SPINFER_STATUS_SUCCESS);

  if (!spinfer_has_cuda()) {
    CHECK_STATUS(spinfer_context_create(&ctx, SPINFER_BACKEND_CUDA), SPINFER_STATUS_NOT_SUPPORTED);
  }
}

/* Encode a random pruned matrix, round trip through a file, multiply, compare. */
static void test_end_to_end(void) {
  enum { M = 77, K = 150, N = 9 };
  float* w = malloc(sizeof(float) * M * K);
  float* back = malloc(sizeof(float) * M * K);
  float* x = malloc(sizeof(float) * N * K);
  float* y = malloc(sizeof(float) * N * M);
  float bias[M];
  long nnz = 0;
  int i, j, t;
  for (i = 0; i < M * K; ++i) {
    w[i] = uniform() < 0.6 ? 0.0f : (float)(uniform() * 2 - 1);
    nnz += w[i] != 0.0f;
  }
  for (i = 0; i < N * K; ++i) x[i] = (float)(uniform() * 2 - 1);
  for (i = 0; i < M; ++i) bias[i] = (float)(uniform() - 0.5);

  spinfer_matrix_t* m = NULL;
  spinfer_matrix_t* loaded = NULL;
  spinfer_context_t* ctx = NULL;
  spinfer_matrix_info_t info;
  const char* path = "spinfer_capi_test.safetensors";
  const char* name = "layer.w";
  char buf[64];
  size_t count = 0, required = 0;

  CHECK_STATUS(spinfer_matrix_encode(&m, w, SPINFER_DTYPE_F32, M, K, K, SPINFER_DTYPE_BF16), SPINFER_STATUS_SUCCESS);
  CHECK_STATUS(spinfer_matrix_validate(m), SPINFER_STATUS_SUCCESS);
  memset(&info, 0xAB, sizeof info);
  CHECK_STATUS(spinfer_matrix_info_init(&info), SPINFER_STATUS_SUCCESS);
  CHECK(info.struct_size == sizeof info && info.rows == 0 && info.nnz == 0 && info.bytes == 0);
  CHECK_STATUS(spinfer_matrix_info_init(NULL), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(spinfer_matrix_get_info(m, &info), SPINFER_STATUS_SUCCESS);
  CHECK(info.rows == M && info.cols == K && info.dtype == SPINFER_DTYPE_BF16);
  CHECK(info.location == SPINFER_LOCATION_HOST && info.format_version == SPINFER_FORMAT_VERSION);
  CHECK(fabs(info.sparsity - (1.0 - (double)nnz / (M * K))) < 1e-12);
  CHECK(info.compression_ratio > 1.0 && info.dense_bytes == (uint64_t)M * K * 2);

  CHECK_STATUS(spinfer_save(path, (const spinfer_matrix_t* const*)&m, &name, 1), SPINFER_STATUS_SUCCESS);
  CHECK_STATUS(spinfer_file_matrix_count(path, &count), SPINFER_STATUS_SUCCESS);
  CHECK(count == 1);
  CHECK_STATUS(spinfer_file_matrix_name(path, 0, buf, 3, &required), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(required == strlen(name) + 1);
  CHECK_STATUS(spinfer_file_matrix_name(path, 0, buf, sizeof buf, NULL), SPINFER_STATUS_SUCCESS);
  CHECK(strcmp(buf, name) == 0);
  CHECK_STATUS(spinfer_file_matrix_name(path, 1, buf, sizeof buf, NULL), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(spinfer_load(&loaded, path, NULL), SPINFER_STATUS_SUCCESS);
  spinfer_matrix_destroy(loaded);
  CHECK_STATUS(spinfer_load(&loaded, path, "other"), SPINFER_STATUS_NOT_FOUND);
  CHECK(loaded == NULL);
  CHECK_STATUS(spinfer_load(&loaded, path, name), SPINFER_STATUS_SUCCESS);

  CHECK_STATUS(spinfer_matrix_decode(loaded, back, SPINFER_DTYPE_F32, K), SPINFER_STATUS_SUCCESS);
  CHECK_STATUS(spinfer_context_create(&ctx, SPINFER_BACKEND_HOST), SPINFER_STATUS_SUCCESS);
  for (i = 0; i < N * M; ++i) y[i] = NAN;
  CHECK_STATUS(spinfer_spmm(ctx, loaded, x, N, K, bias, y, M, SPINFER_DTYPE_F32, NULL), SPINFER_STATUS_SUCCESS);
  {
    double num = 0, den = 0;
    for (t = 0; t < N; ++t)
      for (i = 0; i < M; ++i) {
        double ref = bias[i];
        for (j = 0; j < K; ++j) ref += (double)back[i * K + j] * x[t * K + j];
        num += (y[t * M + i] - ref) * (y[t * M + i] - ref);
        den += ref * ref;
      }
    CHECK(sqrt(num / den) < 1e-6); /* NaN (unwritten) fails too */
  }

  /* Bad arguments to every matrix / file / spmm entry point. */
  {
    spinfer_matrix_t* bad = (spinfer_matrix_t*)1;
    spinfer_spmm_options_t opt;
    uint64_t offsets[2] = {0, 0};
    uint64_t bitmaps[64] = {0};
    uint16_t values[8] = {0};
    CHECK_STATUS(spinfer_matrix_encode(&bad, NULL, SPINFER_DTYPE_F32, 2, 2, 2, SPINFER_DTYPE_F16), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK(bad == NULL);
    CHECK_STATUS(spinfer_matrix_encode(NULL, w, SPINFER_DTYPE_F32, 2, 2, 2, SPINFER_DTYPE_F16), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_matrix_encode(&bad, w, SPINFER_DTYPE_F32, 0, 2, 2, SPINFER_DTYPE_F16), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_matrix_encode(&bad, w, SPINFER_DTYPE_F32, 2, 4, 2, SPINFER_DTYPE_F16), SPINFER_STATUS_SHAPE_MISMATCH);
    CHECK_STATUS(spinfer_matrix_encode(&bad, w, SPINFER_DTYPE_F32, 2, 2, 2, SPINFER_DTYPE_F32), SPINFER_STATUS_UNSUPPORTED_DTYPE);
    CHECK_STATUS(spinfer_matrix_encode(&bad, w, (spinfer_dtype_t)9, 2, 2, 2, SPINFER_DTYPE_F16), SPINFER_STATUS_UNSUPPORTED_DTYPE);
    CHECK_STATUS(spinfer_matrix_decode(NULL, back, SPINFER_DTYPE_F32, K), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_matrix_decode(m, NULL, SPINFER_DTYPE_F32, K), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_matrix_decode(m, back, SPINFER_DTYPE_F32, K - 1), SPINFER_STATUS_SHAPE_MISMATCH);
    CHECK_STATUS(spinfer_matrix_get_info(m, NULL), SPINFER_STATUS_INVALID_ARGUMENT);
    info.struct_size = 0;
    CHECK_STATUS(spinfer_matrix_get_info(m, &info), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_matrix_validate(NULL), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_matrix_destroy(NULL), SPINFER_STATUS_SUCCESS);

    CHECK_STATUS(spinfer_matrix_from_arrays(&bad, 8, 8, SPINFER_DTYPE_F16, 1, values, 0, bitmaps, 64, offsets, 2), SPINFER_STATUS_SUCCESS);
    spinfer_matrix_destroy(bad);
    CHECK_STATUS(spinfer_matrix_from_arrays(&bad, 8, 8, SPINFER_DTYPE_F16, 2, values, 0, bitmaps, 64, offsets, 2), SPINFER_STATUS_UNSUPPORTED_VERSION);
    CHECK_STATUS(spinfer_matrix_from_arrays(&bad, 8, 8, SPINFER_DTYPE_F16, 1, values, 0, bitmaps, 63, offsets, 2), SPINFER_STATUS_CORRUPT_DATA);
    bitmaps[0] = 1;
    CHECK_STATUS(spinfer_matrix_from_arrays(&bad, 8, 8, SPINFER_DTYPE_F16, 1, values, 0, bitmaps, 64, offsets, 2), SPINFER_STATUS_CORRUPT_DATA);
    CHECK(bad == NULL);
    CHECK_STATUS(spinfer_matrix_from_arrays(&bad, 8, 8, SPINFER_DTYPE_F16, 1, values, 0, NULL, 64, offsets, 2), SPINFER_STATUS_INVALID_ARGUMENT);

    CHECK_STATUS(spinfer_save(NULL, (const spinfer_matrix_t* const*)&m, &name, 1), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_save(path, NULL, &name, 1), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_save(path, (const spinfer_matrix_t* const*)&m, NULL, 1), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_save(path, (const spinfer_matrix_t* const*)&m, &name, 0), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_load(&bad, "/no/such/file.safetensors", NULL), SPINFER_STATUS_IO_ERROR);
    CHECK_STATUS(spinfer_load(NULL, path, NULL), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_load(&bad, NULL, NULL), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_file_matrix_count(path, NULL), SPINFER_STATUS_INVALID_ARGUMENT);

    CHECK_STATUS(spinfer_spmm(NULL, m, x, N, K, NULL, y, M, SPINFER_DTYPE_F32, NULL), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_spmm(ctx, NULL, x, N, K, NULL, y, M, SPINFER_DTYPE_F32, NULL), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_spmm(ctx, m, NULL, N, K, NULL, y, M, SPINFER_DTYPE_F32, NULL), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_spmm(ctx, m, x, N, K, NULL, NULL, M, SPINFER_DTYPE_F32, NULL), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_spmm(ctx, m, x, N, K - 1, NULL, y, M, SPINFER_DTYPE_F32, NULL), SPINFER_STATUS_SHAPE_MISMATCH);
    CHECK_STATUS(spinfer_spmm(ctx, m, x, N, K, NULL, y, M - 1, SPINFER_DTYPE_F32, NULL), SPINFER_STATUS_SHAPE_MISMATCH);
    CHECK_STATUS(spinfer_spmm(ctx, m, x, -2, K, NULL, y, M, SPINFER_DTYPE_F32, NULL), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_spmm(ctx, m, x, N, K, NULL, y, M, (spinfer_dtype_t)4, NULL), SPINFER_STATUS_UNSUPPORTED_DTYPE);
    CHECK_STATUS(spinfer_spmm(ctx, m, (const char*)x + 1, N, K, NULL, y, M, SPINFER_DTYPE_F32, NULL), SPINFER_STATUS_MISALIGNED);
    CHECK_STATUS(spinfer_spmm_options_init(NULL), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_spmm_options_init(&opt), SPINFER_STATUS_SUCCESS);
    opt.split_k = -1;
    CHECK_STATUS(spinfer_spmm_ex(ctx, m, x, N, K, NULL, y, M, SPINFER_DTYPE_F32, &opt, NULL), SPINFER_STATUS_INVALID_ARGUMENT);
    /* Success clears the message. */
    CHECK_STATUS(spinfer_spmm(ctx, m, x, N, K, NULL, y, M, SPINFER_DTYPE_F32, NULL), SPINFER_STATUS_SUCCESS);
    CHECK(spinfer_last_error_message()[0] == 0);

    /* Device entry points on a host context say why they cannot run. */
    CHECK_STATUS(spinfer_matrix_upload(ctx, m, &bad, NULL), SPINFER_STATUS_NOT_SUPPORTED);
    CHECK_STATUS(spinfer_matrix_upload(NULL, m, &bad, NULL), SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(spinfer_matrix_download(ctx, m, &bad, NULL), SPINFER_STATUS_NOT_SUPPORTED);
    CHECK_STATUS(spinfer_matrix_encode_device(ctx, &bad, w, SPINFER_DTYPE_F32, 2, 2, 2, SPINFER_DTYPE_F16, NULL), SPINFER_STATUS_NOT_SUPPORTED);
  }

  spinfer_matrix_destroy(m);
  spinfer_matrix_destroy(loaded);
  spinfer_context_destroy(ctx);
  remove(path);
  free(w);
  free(back);
  free(x);
  free(y);
}

/* spinfer_matrix_copy_arrays: encode -> copy_arrays -> from_arrays -> decode gives the
 * same matrix, each array can be fetched alone, and every bad argument has its status
 * and leaves the buffers untouched. */
static void test_copy_arrays(void) {
  enum { M = 70, K = 131 }; /* odd shapes: partial GroupTiles on both sides */
  float* w = malloc(sizeof(float) * M * K);
  uint16_t* dense = malloc(sizeof(uint16_t) * M * K);
  uint16_t* back = malloc(sizeof(uint16_t) * M * K);
  spinfer_matrix_t* m = NULL;
  spinfer_matrix_t* rebuilt = NULL;
  spinfer_matrix_info_t info;
  uint16_t* values;
  uint64_t *bitmaps, *offsets, *single;
  uint64_t nv, nb, no, i;
  for (i = 0; i < (uint64_t)M * K; ++i) w[i] = uniform() < 0.7 ? 0.0f : (float)(uniform() * 4 - 2);
  CHECK_STATUS(spinfer_matrix_encode(&m, w, SPINFER_DTYPE_F32, M, K, K, SPINFER_DTYPE_F16), SPINFER_STATUS_SUCCESS);
  spinfer_matrix_info_init(&info);
  CHECK_STATUS(spinfer_matrix_get_info(m, &info), SPINFER_STATUS_SUCCESS);
  nv = info.values_count, nb = info.bitmaps_count, no = info.offsets_count;
  /* Counts from the format (docs/format.md): 2 x 3 GroupTiles, 64 bitmaps each. */
  CHECK(nb == 6 * 64 && no == 7 && nv % 8 == 0 && nv >= (uint64_t)info.nnz);
  CHECK(info.bytes == nv * 2 + nb * 8 + no * 8);
  /* One spare element past each buffer, poisoned: the call must not write it. */
  values = malloc(sizeof(uint16_t) * (nv + 1));
  bitmaps = malloc(sizeof(uint64_t) * (nb + 1));
  offsets = malloc(sizeof(uint64_t) * (no + 1));
  single = malloc(sizeof(uint64_t) * (no + 1));
  memset(values, 0xA5, sizeof(uint16_t) * (nv + 1));
  memset(bitmaps, 0xA5, sizeof(uint64_t) * (nb + 1));
  memset(offsets, 0xA5, sizeof(uint64_t) * (no + 1));

  CHECK_STATUS(spinfer_matrix_copy_arrays(m, values, nv, bitmaps, nb, offsets, no), SPINFER_STATUS_SUCCESS);
  CHECK(values[nv] == 0xA5A5 && bitmaps[nb] == 0xA5A5A5A5A5A5A5A5ULL && offsets[no] == 0xA5A5A5A5A5A5A5A5ULL);
  CHECK(offsets[0] == 0 && offsets[no - 1] == nv);
  CHECK_STATUS(spinfer_matrix_from_arrays(&rebuilt, info.rows, info.cols, info.dtype, info.format_version,
                                          values, nv, bitmaps, nb, offsets, no), SPINFER_STATUS_SUCCESS);
  CHECK_STATUS(spinfer_matrix_decode(m, dense, SPINFER_DTYPE_F16, K), SPINFER_STATUS_SUCCESS);
  memset(back, 0xFF, sizeof(uint16_t) * M * K);
  CHECK_STATUS(spinfer_matrix_decode(rebuilt, back, SPINFER_DTYPE_F16, K), SPINFER_STATUS_SUCCESS);
  CHECK(memcmp(dense, back, sizeof(uint16_t) * M * K) == 0);
  spinfer_matrix_destroy(rebuilt);

  /* One array alone: the others NULL with count 0. */
  memset(single, 0, sizeof(uint64_t) * (no + 1));
  CHECK_STATUS(spinfer_matrix_copy_arrays(m, NULL, 0, NULL, 0, single, no), SPINFER_STATUS_SUCCESS);
  CHECK(memcmp(single, offsets, sizeof(uint64_t) * no) == 0);
  CHECK_STATUS(spinfer_matrix_copy_arrays(m, NULL, 0, NULL, 0, NULL, 0), SPINFER_STATUS_SUCCESS);
  {
    /* An all-zero matrix stores no values: a buffer with count 0 is right for it. */
    uint16_t none[1] = {0x1234};
    float zeros[4] = {0};
    CHECK_STATUS(spinfer_matrix_encode(&rebuilt, zeros, SPINFER_DTYPE_F32, 2, 2, 2, SPINFER_DTYPE_BF16), SPINFER_STATUS_SUCCESS);
    CHECK_STATUS(spinfer_matrix_copy_arrays(rebuilt, none, 0, NULL, 0, NULL, 0), SPINFER_STATUS_SUCCESS);
    CHECK(none[0] == 0x1234);
    CHECK_STATUS(spinfer_matrix_copy_arrays(rebuilt, none, 1, NULL, 0, NULL, 0), SPINFER_STATUS_SHAPE_MISMATCH);
    spinfer_matrix_destroy(rebuilt);
  }

  /* Bad arguments: each fails with its status, names the array, and writes nothing. */
  memset(single, 0x5A, sizeof(uint64_t) * (no + 1));
  CHECK_STATUS(spinfer_matrix_copy_arrays(NULL, values, nv, bitmaps, nb, single, no), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(spinfer_matrix_copy_arrays(m, NULL, nv, NULL, 0, single, no), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(spinfer_last_error_message(), "values") != NULL);
  CHECK_STATUS(spinfer_matrix_copy_arrays(m, values, nv, NULL, nb, single, no), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(spinfer_last_error_message(), "bitmaps") != NULL);
  CHECK_STATUS(spinfer_matrix_copy_arrays(m, values, nv - 1, NULL, 0, single, no), SPINFER_STATUS_SHAPE_MISMATCH);
  CHECK(strstr(spinfer_last_error_message(), "values") != NULL);
  CHECK_STATUS(spinfer_matrix_copy_arrays(m, NULL, 0, bitmaps, nb + 1, single, no), SPINFER_STATUS_SHAPE_MISMATCH);
  CHECK(strstr(spinfer_last_error_message(), "bitmaps") != NULL);
  CHECK_STATUS(spinfer_matrix_copy_arrays(m, NULL, 0, bitmaps, 0, single, no), SPINFER_STATUS_SHAPE_MISMATCH);
  CHECK_STATUS(spinfer_matrix_copy_arrays(m, NULL, 0, NULL, 0, single, no - 1), SPINFER_STATUS_SHAPE_MISMATCH);
  {
    /* The message gives both counts. */
    char expect[96];
    snprintf(expect, sizeof expect, "group_offsets holds %llu elements, the matrix has %llu",
             (unsigned long long)(no - 1), (unsigned long long)no);
    CHECK(strstr(spinfer_last_error_message(), expect) != NULL);
  }
  CHECK_STATUS(spinfer_matrix_copy_arrays(m, NULL, 0, NULL, 0, single, UINT64_MAX), SPINFER_STATUS_SHAPE_MISMATCH);
  for (i = 0; i <= no; ++i) CHECK(single[i] == 0x5A5A5A5A5A5A5A5AULL);

  spinfer_matrix_destroy(m);
  free(w);
  free(dense);
  free(back);
  free(values);
  free(bitmaps);
  free(offsets);
  free(single);
}

/* spinfer_spmm_plan on the host backend: what a call would do, and its checks. */
static void test_spmm_plan(void) {
  enum { M = 64, K = 128 };
  float* w = (float*)calloc((size_t)M * K, sizeof(float));
  spinfer_matrix_t* m = NULL;
  spinfer_context_t* ctx = NULL;
  spinfer_context_config_t cfg;
  spinfer_spmm_plan_t plan;
  spinfer_spmm_options_t opt;
  size_t i;
  for (i = 0; i < (size_t)M * K; i += 3) w[i] = (float)(i % 7) - 3.0f;
  CHECK_STATUS(spinfer_matrix_encode(&m, w, SPINFER_DTYPE_F32, M, K, K, SPINFER_DTYPE_F16), SPINFER_STATUS_SUCCESS);
  CHECK_STATUS(spinfer_context_config_init(&cfg), SPINFER_STATUS_SUCCESS);
  cfg.backend = SPINFER_BACKEND_HOST;
  cfg.host_threads = 3;
  CHECK_STATUS(spinfer_context_create_ex(&ctx, &cfg), SPINFER_STATUS_SUCCESS);

  memset(&plan, 0x5a, sizeof plan);
  plan.struct_size = sizeof plan;
  CHECK_STATUS(spinfer_spmm_plan(ctx, m, 8, SPINFER_DTYPE_F32, NULL, NULL, &plan), SPINFER_STATUS_SUCCESS);
  CHECK(plan.struct_size == sizeof plan);
  CHECK(plan.kernel == SPINFER_SPMM_KERNEL_HOST);
  CHECK(plan.tile_n == 0 && plan.split_k == 1 && plan.launches == 0);
  CHECK(plan.workspace_bytes == 0 && plan.runs_without_workspace == 0);
  CHECK(plan.host_threads == 1); /* a 64 x 128 product is too small to wake workers */
  CHECK_STATUS(spinfer_spmm_plan(ctx, m, 0, SPINFER_DTYPE_BF16, NULL, NULL, &plan), SPINFER_STATUS_SUCCESS);
  CHECK(plan.host_threads == 0);

  /* An older, shorter struct: only its prefix is written. */
  memset(&plan, 0x5a, sizeof plan);
  plan.struct_size = offsetof(spinfer_spmm_plan_t, host_threads);
  CHECK_STATUS(spinfer_spmm_plan(ctx, m, 4, SPINFER_DTYPE_F32, NULL, NULL, &plan), SPINFER_STATUS_SUCCESS);
  CHECK(plan.struct_size == offsetof(spinfer_spmm_plan_t, host_threads));
  CHECK(plan.kernel == SPINFER_SPMM_KERNEL_HOST);
  CHECK(plan.host_threads == 0x5a5a5a5a);

  /* The call's checks, and a status for each bad argument. */
  plan.struct_size = sizeof plan;
  CHECK_STATUS(spinfer_spmm_plan(NULL, m, 1, SPINFER_DTYPE_F32, NULL, NULL, &plan), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(spinfer_spmm_plan(ctx, NULL, 1, SPINFER_DTYPE_F32, NULL, NULL, &plan), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(spinfer_spmm_plan(ctx, m, 1, SPINFER_DTYPE_F32, NULL, NULL, NULL), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(spinfer_spmm_plan(ctx, m, -1, SPINFER_DTYPE_F32, NULL, NULL, &plan), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(spinfer_spmm_plan(ctx, m, 1, (spinfer_dtype_t)42, NULL, NULL, &plan), SPINFER_STATUS_UNSUPPORTED_DTYPE);
  CHECK_STATUS(spinfer_spmm_options_init(&opt), SPINFER_STATUS_SUCCESS);
  opt.tile_n = -8;
  CHECK_STATUS(spinfer_spmm_plan(ctx, m, 1, SPINFER_DTYPE_F32, &opt, NULL, &plan), SPINFER_STATUS_INVALID_ARGUMENT);
  plan.struct_size = 0;
  CHECK_STATUS(spinfer_spmm_plan(ctx, m, 1, SPINFER_DTYPE_F32, NULL, NULL, &plan), SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(spinfer_last_error_message(), "struct_size") != NULL);

  spinfer_matrix_destroy(m);
  spinfer_context_destroy(ctx);
  free(w);
}

int main(void) {
  test_versions();
  test_context();
  test_end_to_end();
  test_copy_arrays();
  test_spmm_plan();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("C API tests passed\n");
  return 0;
}
