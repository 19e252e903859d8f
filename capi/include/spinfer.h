/*
 * spinfer.h -- the public C API of libspinfer.
 *
 * spinfer runs matrix products with unstructured-sparse (pruned) weights on NVIDIA
 * GPUs and on the host, from the TCA-BME bitmap format of the SpInfer paper
 * (Fan et al., EuroSys '25). This header is the manual: every function has its doc
 * block. It is C99, needs no CUDA header, and is the single source from which the
 * Python, Java and Rust bindings are generated.
 *
 * Map
 *   1. Versions, statuses, errors
 *   2. Contexts (backend selection)
 *   3. Matrices: encode, decode, info, validate
 *   4. Files (safetensors)
 *   5. Device residency: upload, GPU encode, download
 *   6. SpMM: Y = X * W^T (+ bias)
 *   7. Layers, KV cache, models
 *
 * Conventions
 *   - Every function returns spinfer_status_t. On failure, a human-readable
 *     message naming the problem is available from spinfer_last_error_message()
 *     (thread-local; valid until the next spinfer call on the same thread).
 *   - The library never aborts, never throws across this boundary and never prints.
 *   - Handles are opaque; every *_create / producing call has a *_destroy that
 *     accepts NULL. Output handles are set to NULL on failure.
 *   - Streams are `void*` holding a cudaStream_t; NULL is the default stream.
 *   - Shapes: W is [rows = M, cols = K] row-major (as torch.nn.Linear.weight),
 *     X is [N, K], Y is [N, M], both row-major with leading dimensions ldx >= K,
 *     ldy >= M (in elements).
 *   - Config and info structs begin with `struct_size`; set it to sizeof(the
 *     struct) so that the struct can grow without breaking the ABI.
 *
 * Thread safety
 *   - Functions without a handle are thread-safe.
 *   - A matrix is immutable after it is produced: any number of threads may read,
 *     save, upload or multiply with it at once. Destroy it only when no other call
 *     uses it.
 *   - A context may be used from many threads at once, provided each thread uses
 *     its own stream (CUDA) -- the split-K workspace is per stream. Host-backend
 *     calls on one context may run concurrently from many threads.
 */
#ifndef SPINFER_H
#define SPINFER_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define SPINFER_API __declspec(dllexport)
#elif defined(__GNUC__)
#define SPINFER_API __attribute__((visibility("default")))
#else
#define SPINFER_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================== */
/* 1. Versions, statuses, errors                                            */
/* ======================================================================== */

#define SPINFER_VERSION_MAJOR 0
#define SPINFER_VERSION_MINOR 1
#define SPINFER_VERSION_PATCH 0
/** Version of the TCA-BME byte layout this library writes (docs/format.md). */
#define SPINFER_FORMAT_VERSION 1

/** Status of every call. SPINFER_STATUS_SUCCESS is 0; all others are failures. */
typedef enum spinfer_status_t {
  SPINFER_STATUS_SUCCESS = 0,
  SPINFER_STATUS_INVALID_ARGUMENT = 1,    /**< NULL pointer, bad enum, negative size */
  SPINFER_STATUS_SHAPE_MISMATCH = 2,      /**< sizes that do not agree with each other */
  SPINFER_STATUS_UNSUPPORTED_DTYPE = 3,   /**< dtype not accepted by this call or backend */
  SPINFER_STATUS_MISALIGNED = 4,          /**< pointer or leading dimension not aligned */
  SPINFER_STATUS_OUT_OF_MEMORY = 5,       /**< host or device allocation failed */
  SPINFER_STATUS_IO_ERROR = 6,            /**< file could not be opened, read or written */
  SPINFER_STATUS_CORRUPT_DATA = 7,        /**< encoded data or file breaks a format invariant */
  SPINFER_STATUS_UNSUPPORTED_VERSION = 8, /**< format version not understood */
  SPINFER_STATUS_NOT_FOUND = 9,           /**< named tensor not present in a file */
  SPINFER_STATUS_NOT_SUPPORTED = 10,      /**< backend cannot do this (e.g. no CUDA build) */
  SPINFER_STATUS_NO_DEVICE = 11,          /**< CUDA requested but no usable GPU */
  SPINFER_STATUS_WRONG_LOCATION = 12,     /**< host data given where device data is needed, or back */
  SPINFER_STATUS_CUDA_ERROR = 13,         /**< a CUDA runtime or library call failed */
  SPINFER_STATUS_INTERNAL_ERROR = 14      /**< a bug in spinfer: please report it */
} spinfer_status_t;

/** Element types of dense arrays and of stored non-zeros. */
typedef enum spinfer_dtype_t {
  SPINFER_DTYPE_F32 = 0,  /**< IEEE binary32 (dense inputs/outputs on the host only) */
  SPINFER_DTYPE_F16 = 1,  /**< IEEE binary16 */
  SPINFER_DTYPE_BF16 = 2  /**< bfloat16 */
} spinfer_dtype_t;

/** Library version string "MAJOR.MINOR.PATCH". Static storage; never NULL. */
SPINFER_API const char* spinfer_version(void);

/** Library version as MAJOR * 10000 + MINOR * 100 + PATCH. */
SPINFER_API uint32_t spinfer_version_number(void);

/** Name of a status, e.g. "SPINFER_STATUS_CORRUPT_DATA". Static storage; never NULL. */
SPINFER_API const char* spinfer_status_string(spinfer_status_t status);

/**
 * Message describing the last failure on the calling thread ("" if the last call
 * succeeded). Valid until the next spinfer call on this thread; never NULL.
 */
SPINFER_API const char* spinfer_last_error_message(void);

/** Size in bytes of one element of `dtype`, or 0 for an unknown dtype. */
SPINFER_API size_t spinfer_dtype_size(spinfer_dtype_t dtype);

/* ======================================================================== */
/* 2. Contexts                                                              */
/* ======================================================================== */

/** Where work runs. */
typedef enum spinfer_backend_t {
  SPINFER_BACKEND_AUTO = 0, /**< CUDA when built with CUDA and a GPU is present, else host */
  SPINFER_BACKEND_HOST = 1, /**< multi-threaded CPU reference backend */
  SPINFER_BACKEND_CUDA = 2  /**< NVIDIA GPU */
} spinfer_backend_t;

/** Context options. Initialise with spinfer_context_config_init(). */
typedef struct spinfer_context_config_t {
  size_t struct_size;        /**< sizeof(spinfer_context_config_t) */
  spinfer_backend_t backend; /**< default SPINFER_BACKEND_AUTO */
  int device;                /**< CUDA device ordinal; default 0 */
  int host_threads;          /**< host backend threads; 0 = hardware concurrency */
} spinfer_context_config_t;

/** Opaque library context: backend choice, device, split-K workspaces. */
typedef struct spinfer_context spinfer_context_t;

/** Fill `config` with defaults (sets struct_size). */
SPINFER_API spinfer_status_t spinfer_context_config_init(spinfer_context_config_t* config);

/**
 * Create a context for `backend`. AUTO picks CUDA when available, else HOST; query
 * the choice with spinfer_context_get_backend(). Asking for CUDA without a CUDA
 * build gives NOT_SUPPORTED; without a GPU gives NO_DEVICE.
 */
SPINFER_API spinfer_status_t spinfer_context_create(spinfer_context_t** out, spinfer_backend_t backend);

/** Create a context from a config (NULL config = defaults). */
SPINFER_API spinfer_status_t spinfer_context_create_ex(spinfer_context_t** out,
                                                       const spinfer_context_config_t* config);

/** The backend the context resolved to (never AUTO). */
SPINFER_API spinfer_status_t spinfer_context_get_backend(const spinfer_context_t* ctx,
                                                         spinfer_backend_t* out);

/** Destroy a context and free its workspaces. NULL is accepted. */
SPINFER_API spinfer_status_t spinfer_context_destroy(spinfer_context_t* ctx);

/** 1 if this library was built with CUDA kernels, else 0. */
SPINFER_API int spinfer_has_cuda(void);

/* ======================================================================== */
/* 3. Matrices                                                              */
/* ======================================================================== */

/** Opaque encoded (TCA-BME) sparse matrix, on the host or on a device. Immutable. */
typedef struct spinfer_matrix spinfer_matrix_t;

/** Where a matrix's arrays live. */
typedef enum spinfer_location_t {
  SPINFER_LOCATION_HOST = 0,
  SPINFER_LOCATION_DEVICE = 1
} spinfer_location_t;

/** Facts about an encoded matrix. Set struct_size before calling get_info. */
typedef struct spinfer_matrix_info_t {
  size_t struct_size;          /**< sizeof(spinfer_matrix_info_t), set by the caller */
  int64_t rows;                /**< M */
  int64_t cols;                /**< K */
  spinfer_dtype_t dtype;       /**< storage dtype of the non-zeros: F16 or BF16 */
  spinfer_location_t location; /**< host or device */
  int device;                  /**< CUDA device ordinal (-1 on the host) */
  uint32_t format_version;     /**< SPINFER_FORMAT_VERSION of the layout */
  int64_t nnz;                 /**< number of stored non-zeros */
  double sparsity;             /**< 1 - nnz / (rows * cols) */
  uint64_t bytes;              /**< bytes of values + bitmaps + group offsets */
  uint64_t dense_bytes;        /**< rows * cols * 2 (dense fp16/bf16) */
  double compression_ratio;    /**< dense_bytes / bytes */
} spinfer_matrix_info_t;

/**
 * Encode a dense row-major host matrix `dense` ([rows, cols], leading dimension
 * `ld` >= cols elements, dtype F32, F16 or BF16) into TCA-BME with non-zeros stored
 * as `storage_dtype` (F16 or BF16). Elements that are zero (+0 or -0) after
 * conversion to the storage dtype are dropped; every other value is kept exactly as
 * its storage-dtype rounding (round to nearest even). NaN and Inf are kept.
 * The result is a host matrix owned by the caller (spinfer_matrix_destroy).
 */
SPINFER_API spinfer_status_t spinfer_matrix_encode(spinfer_matrix_t** out, const void* dense,
                                                   spinfer_dtype_t dense_dtype, int64_t rows,
                                                   int64_t cols, int64_t ld,
                                                   spinfer_dtype_t storage_dtype);

/**
 * Decode a host matrix back to dense row-major `dense` ([rows, cols], leading
 * dimension `ld` >= cols, dtype F32, F16 or BF16). Zeros are written where no value
 * is stored. Exact for the matrix's storage dtype and for F32.
 */
SPINFER_API spinfer_status_t spinfer_matrix_decode(const spinfer_matrix_t* matrix, void* dense,
                                                   spinfer_dtype_t dense_dtype, int64_t ld);

/** Fill `info` (its struct_size must be set; a smaller older struct is filled as far as it goes). */
SPINFER_API spinfer_status_t spinfer_matrix_get_info(const spinfer_matrix_t* matrix,
                                                     spinfer_matrix_info_t* info);

/**
 * Check every invariant of a host matrix: sizes, offsets monotone and in range,
 * per-tile popcounts agreeing with offsets, zero padding, dtype, version. Returns
 * CORRUPT_DATA or UNSUPPORTED_VERSION with a message naming the first broken one.
 * Matrices from files and from spinfer_matrix_from_arrays are validated already.
 */
SPINFER_API spinfer_status_t spinfer_matrix_validate(const spinfer_matrix_t* matrix);

/**
 * Build a host matrix from raw TCA-BME arrays (docs/format.md), copying them, and
 * validate it. `values` holds `values_count` 16-bit elements, `bitmaps` holds
 * `bitmaps_count` uint64 words and `group_offsets` `offsets_count` uint64 words.
 */
SPINFER_API spinfer_status_t spinfer_matrix_from_arrays(
    spinfer_matrix_t** out, int64_t rows, int64_t cols, spinfer_dtype_t dtype,
    uint32_t format_version, const uint16_t* values, uint64_t values_count,
    const uint64_t* bitmaps, uint64_t bitmaps_count, const uint64_t* group_offsets,
    uint64_t offsets_count);

/** Destroy a matrix (host or device) and free its arrays. NULL is accepted. */
SPINFER_API spinfer_status_t spinfer_matrix_destroy(spinfer_matrix_t* matrix);

/* ======================================================================== */
/* 4. Files (safetensors)                                                   */
/* ======================================================================== */

/**
 * Save `count` host matrices to one safetensors file at `path`, matrix i under the
 * name names[i] (tensors NAME.values, NAME.bitmaps, NAME.group_offsets; shapes,
 * dtype, tiling and format version in __metadata__). Names must be non-empty,
 * distinct and must not contain '.'-suffixes reserved by the format. The file is
 * written to a temporary name and renamed, so a failure leaves no partial file.
 */
SPINFER_API spinfer_status_t spinfer_save(const char* path, const spinfer_matrix_t* const* matrices,
                                          const char* const* names, size_t count);

/**
 * Load the matrix called `name` from the safetensors file `path` into a new host
 * matrix. `name` may be NULL when the file holds exactly one matrix. Every field is
 * validated: a corrupt or truncated file gives CORRUPT_DATA / IO_ERROR, an unknown
 * name NOT_FOUND.
 */
SPINFER_API spinfer_status_t spinfer_load(spinfer_matrix_t** out, const char* path, const char* name);

/** Number of spinfer matrices in the safetensors file `path`. */
SPINFER_API spinfer_status_t spinfer_file_matrix_count(const char* path, size_t* count);

/**
 * Name of matrix `index` (sorted by name) in file `path`, copied NUL-terminated into
 * `buffer` of `buffer_size` bytes. `required` (may be NULL) receives the size needed
 * including the NUL; a too-small buffer gives INVALID_ARGUMENT with `required` set.
 */
SPINFER_API spinfer_status_t spinfer_file_matrix_name(const char* path, size_t index, char* buffer,
                                                      size_t buffer_size, size_t* required);

/* ======================================================================== */
/* 5. Device residency                                                      */
/* ======================================================================== */

/**
 * Copy host matrix `host` to the context's GPU asynchronously on `stream`, giving a
 * new device matrix. The source must stay alive and unchanged until the stream
 * reaches the copy (pageable sources are staged through pinned memory, so the
 * copy is complete for the host when the call returns for them). CUDA contexts only.
 */
SPINFER_API spinfer_status_t spinfer_matrix_upload(spinfer_context_t* ctx,
                                                   const spinfer_matrix_t* host,
                                                   spinfer_matrix_t** out, void* stream);

/**
 * Encode a dense row-major matrix that is already on the context's GPU (device
 * pointer `dense`, dtype F16, BF16 or F32, leading dimension `ld`) into a new
 * device matrix with non-zeros stored as `storage_dtype`. Same result, bit for bit,
 * as spinfer_matrix_encode followed by upload. Synchronises `stream` (it must learn
 * the non-zero count to size the arrays).
 */
SPINFER_API spinfer_status_t spinfer_matrix_encode_device(spinfer_context_t* ctx,
                                                          spinfer_matrix_t** out,
                                                          const void* dense,
                                                          spinfer_dtype_t dense_dtype,
                                                          int64_t rows, int64_t cols, int64_t ld,
                                                          spinfer_dtype_t storage_dtype,
                                                          void* stream);

/** Copy a device matrix back to a new host matrix (synchronises `stream`). */
SPINFER_API spinfer_status_t spinfer_matrix_download(spinfer_context_t* ctx,
                                                     const spinfer_matrix_t* device,
                                                     spinfer_matrix_t** out, void* stream);

/* ======================================================================== */
/* 6. SpMM                                                                  */
/* ======================================================================== */

/** Expert overrides for spinfer_spmm_ex. Initialise with spinfer_spmm_options_init(). */
typedef struct spinfer_spmm_options_t {
  size_t struct_size; /**< sizeof(spinfer_spmm_options_t) */
  int split_k;        /**< CUDA: number of K slices; 0 = chosen by the library */
  int tile_n;         /**< CUDA: N columns per block (8, 16, 32, 64); 0 = chosen */
} spinfer_spmm_options_t;

/** Fill `options` with defaults (sets struct_size; everything chosen by the library). */
SPINFER_API spinfer_status_t spinfer_spmm_options_init(spinfer_spmm_options_t* options);

/**
 * Y = X * W^T (+ bias), fp32 accumulation.
 *
 * The product runs where `w` lives: a host matrix on the host backend, a device
 * matrix on the context's GPU. `x` is [n, cols(W)] with leading dimension `ldx`,
 * `y` is [n, rows(W)] with leading dimension `ldy`, `bias` is [rows(W)] or NULL;
 * all three have dtype `dtype`, and results are rounded to it once.
 *
 *  - Host: x, bias, y are host pointers; dtype F32, F16 or BF16; `stream` ignored;
 *    the call is synchronous.
 *  - CUDA: device pointers; dtype must equal the matrix's storage dtype; x and y
 *    must be 16-byte aligned with ldx and ldy multiples of 8 (else MISALIGNED);
 *    asynchronous on `stream`; never allocates and never synchronises, so it may be
 *    captured in a CUDA graph.
 *
 * n may be 0 (nothing is done). y must not overlap x or bias.
 */
SPINFER_API spinfer_status_t spinfer_spmm(spinfer_context_t* ctx, const spinfer_matrix_t* w,
                                          const void* x, int64_t n, int64_t ldx, const void* bias,
                                          void* y, int64_t ldy, spinfer_dtype_t dtype, void* stream);

/** spinfer_spmm with expert overrides (`options` may be NULL). */
SPINFER_API spinfer_status_t spinfer_spmm_ex(spinfer_context_t* ctx, const spinfer_matrix_t* w,
                                             const void* x, int64_t n, int64_t ldx,
                                             const void* bias, void* y, int64_t ldy,
                                             spinfer_dtype_t dtype,
                                             const spinfer_spmm_options_t* options, void* stream);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SPINFER_H */
