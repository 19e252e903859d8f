/*
 * The cross-language scenario (examples/SCENARIO.md) in C, loading libspinfer at run
 * time with dlopen/dlsym: the program has no link-time dependency on the library (only
 * spinfer.h, for its types), which is how a plugin host or another language's FFI
 * reaches it.
 *
 * Build: cc dlopen.c -I<repo>/capi/include -ldl -lm
 * Run:   ./dlopen [path/to/libspinfer.so]   (default: "libspinfer.so.0" via the loader's
 *        search path). Prints "checksum = -26.937500", exits 0 on success.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp */

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenario.h"
#include "spinfer.h"

/* The entry points this program uses, as pointers filled by dlsym. */
struct spinfer_api {
  const char* (*version)(void);
  const char* (*status_string)(spinfer_status_t);
  const char* (*last_error_message)(void);
  spinfer_status_t (*matrix_encode)(spinfer_matrix_t**, const void*, spinfer_dtype_t, int64_t,
                                    int64_t, int64_t, spinfer_dtype_t);
  spinfer_status_t (*matrix_get_info)(const spinfer_matrix_t*, spinfer_matrix_info_t*);
  spinfer_status_t (*matrix_destroy)(spinfer_matrix_t*);
  spinfer_status_t (*save)(const char*, const spinfer_matrix_t* const*, const char* const*, size_t);
  spinfer_status_t (*load)(spinfer_matrix_t**, const char*, const char*);
  spinfer_status_t (*context_create)(spinfer_context_t**, spinfer_backend_t);
  spinfer_status_t (*context_destroy)(spinfer_context_t*);
  spinfer_status_t (*spmm)(spinfer_context_t*, const spinfer_matrix_t*, const void*, int64_t,
                           int64_t, const void*, void*, int64_t, spinfer_dtype_t, void*);
};

/*
 * Compile-time proof that each pointer type matches the header's prototype: the
 * assignment sits inside sizeof, which is never evaluated, so it creates no reference
 * to the symbol (the link without libspinfer still succeeds), yet a mismatch is an
 * incompatible-pointer-types diagnostic (an error with the flags CMake sets).
 */
static void check_prototypes(struct spinfer_api* a) {
  (void)sizeof(a->version = spinfer_version);
  (void)sizeof(a->status_string = spinfer_status_string);
  (void)sizeof(a->last_error_message = spinfer_last_error_message);
  (void)sizeof(a->matrix_encode = spinfer_matrix_encode);
  (void)sizeof(a->matrix_get_info = spinfer_matrix_get_info);
  (void)sizeof(a->matrix_destroy = spinfer_matrix_destroy);
  (void)sizeof(a->save = spinfer_save);
  (void)sizeof(a->load = spinfer_load);
  (void)sizeof(a->context_create = spinfer_context_create);
  (void)sizeof(a->context_destroy = spinfer_context_destroy);
  (void)sizeof(a->spmm = spinfer_spmm);
}

/* dlsym returns void*; POSIX guarantees it converts to a function pointer. Copying the
 * bytes avoids the ISO C cast warning. Returns 0 (after printing) if a symbol is missing. */
static int resolve(void* lib, const char* name, void* slot, size_t size) {
  void* sym = dlsym(lib, name);
  if (sym == NULL) {
    fprintf(stderr, "dlsym(%s): %s\n", name, dlerror());
    return 0;
  }
  memcpy(slot, &sym, size);
  return 1;
}

#define RESOLVE(field, symbol) resolve(lib, #symbol, &api.field, sizeof api.field)

#define TRY(call)                                                                        \
  do {                                                                                   \
    spinfer_status_t status_ = (call);                                                   \
    if (status_ != SPINFER_STATUS_SUCCESS) {                                             \
      fprintf(stderr, "%s failed: %s: %s\n", #call, api.status_string(status_),          \
              api.last_error_message());                                                 \
      goto done;                                                                         \
    }                                                                                    \
  } while (0)

int main(int argc, char** argv) {
  static float w[SCENARIO_M * SCENARIO_K], x[SCENARIO_N * SCENARIO_K], bias[SCENARIO_M];
  static float y[SCENARIO_N * SCENARIO_M];
  const char* lib_path = argc > 1 ? argv[1] : "libspinfer.so.0";
  struct spinfer_api api;
  spinfer_matrix_t *encoded = NULL, *loaded = NULL;
  spinfer_context_t* ctx = NULL;
  char path[] = "/tmp/spinfer-dlopen-XXXXXX";
  int fd = -1, ok = 0;
  double checksum = 0.0;

  check_prototypes(&api);
  void* lib = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    fprintf(stderr, "dlopen(%s): %s\n", lib_path, dlerror());
    return EXIT_FAILURE;
  }
  if (!(RESOLVE(version, spinfer_version) && RESOLVE(status_string, spinfer_status_string) &&
        RESOLVE(last_error_message, spinfer_last_error_message) &&
        RESOLVE(matrix_encode, spinfer_matrix_encode) &&
        RESOLVE(matrix_get_info, spinfer_matrix_get_info) &&
        RESOLVE(matrix_destroy, spinfer_matrix_destroy) && RESOLVE(save, spinfer_save) &&
        RESOLVE(load, spinfer_load) && RESOLVE(context_create, spinfer_context_create) &&
        RESOLVE(context_destroy, spinfer_context_destroy) && RESOLVE(spmm, spinfer_spmm))) {
    dlclose(lib);
    return EXIT_FAILURE;
  }

  long nnz = scenario_fill(w, x, bias);

  /* 1-2. Encode with fp16 storage; the library must count the same non-zeros. */
  TRY(api.matrix_encode(&encoded, w, SPINFER_DTYPE_F32, SCENARIO_M, SCENARIO_K, SCENARIO_K,
                        SPINFER_DTYPE_F16));
  spinfer_matrix_info_t info = {.struct_size = sizeof info};
  TRY(api.matrix_get_info(encoded, &info));
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
  TRY(api.save(path, (const spinfer_matrix_t* const*)&encoded, &name, 1));
  TRY(api.load(&loaded, path, "w"));

  /* 4-5. Y = X * W^T + b in fp32 on a host context; y poisoned first. */
  for (int e = 0; e < SCENARIO_N * SCENARIO_M; ++e) y[e] = NAN;
  TRY(api.context_create(&ctx, SPINFER_BACKEND_HOST));
  TRY(api.spmm(ctx, loaded, x, SCENARIO_N, SCENARIO_K, bias, y, SCENARIO_M, SPINFER_DTYPE_F32,
               NULL));

  /* 6. Exact comparison with the float64 reference. */
  if (!scenario_check(y, &checksum)) goto done;

  /* Bad input through the loaded library: a NULL handle is a status plus a message. */
  spinfer_matrix_info_t unused = {.struct_size = sizeof unused};
  spinfer_status_t status = api.matrix_get_info(NULL, &unused);
  if (status != SPINFER_STATUS_INVALID_ARGUMENT || api.last_error_message()[0] == '\0') {
    fprintf(stderr, "a NULL matrix was not rejected as INVALID_ARGUMENT with a message\n");
    goto done;
  }
  printf("rejected as expected: %s: %s\n", api.status_string(status), api.last_error_message());

  printf("spinfer %s C (dlopen) scenario: nnz = %ld, Y == reference\n", api.version(), nnz);
  printf("checksum = %.6f\n", checksum);
  ok = 1;

done:
  api.context_destroy(ctx);
  api.matrix_destroy(loaded);
  api.matrix_destroy(encoded);
  if (fd >= 0) {
    close(fd);
    unlink(path);
  }
  dlclose(lib);
  return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
