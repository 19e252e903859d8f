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
 *   3. Matrices: encode, decode, info, validate, raw arrays
 *   4. Files (safetensors)
 *   5. Device residency: upload, GPU encode, download
 *   6. SpMM: Y = X * W^T (+ bias)
 *   7. Layers, KV cache, models
 *   8. Pruning and model conversion
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
 *     its own stream (CUDA). A CUDA context allocates its split-K workspace slots
 *     (spmm_workspace_slots, default 4 of 16 MiB) when it is created (or each at its
 *     first use, outside graph capture, with spmm_workspace_lazy); the first
 *     stream that runs a split-K SpMM is bound to a free slot until
 *     spinfer_context_release_stream, and a stream that finds no free slot runs
 *     without split-K (the same result, slower for small M x N).
 *     spinfer_spmm never calls cudaMalloc (but a lazy context's first split-K call on
 *     a stream) and never synchronises, and may be captured in a
 *     CUDA graph (its prefill path takes a scratch stream-ordered: see spinfer_spmm).
 *     Host-backend calls on one context may run concurrently from many threads.
 *   - Layers, KV caches and models (section 7) are used by one thread at a time.
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

/* In C++ the enums get `int` as their fixed underlying type, so that any int a C
 * caller passes (even one that names no enumerator) is a valid value there and the
 * library can reject it; same size and calling convention as the C enum. */
#if defined(__cplusplus) && !defined(SWIG)
#define SPINFER_ENUM_INT : int
#else
#define SPINFER_ENUM_INT
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
typedef enum spinfer_status_t SPINFER_ENUM_INT {
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
typedef enum spinfer_dtype_t SPINFER_ENUM_INT {
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
typedef enum spinfer_backend_t SPINFER_ENUM_INT {
  SPINFER_BACKEND_AUTO = 0, /**< CUDA when built with CUDA and a GPU is present, else host */
  SPINFER_BACKEND_HOST = 1, /**< multi-threaded CPU reference backend */
  SPINFER_BACKEND_CUDA = 2  /**< NVIDIA GPU */
} spinfer_backend_t;

/** Context options. Initialise with spinfer_context_config_init(). */
typedef struct spinfer_context_config_t {
  size_t struct_size;        /**< sizeof(spinfer_context_config_t) */
  spinfer_backend_t backend; /**< default SPINFER_BACKEND_AUTO */
  int device;                /**< CUDA device ordinal; default 0 */
  int host_threads;          /**< host backend threads, at most (small products use fewer); 0 = hardware concurrency */
  int spmm_workspace_slots;  /**< CUDA: split-K workspace slots, 16 MiB each, allocated with the
                                  context and bound to the first streams that need one (see
                                  spinfer_context_release_stream); default 4, 0 = none (every
                                  SpMM runs without split-K), at most 64. A config from an
                                  older header, without this field, gets the default. */
  int spmm_workspace_lazy;   /**< CUDA: 0 (default) allocates the slots with the context; 1
                                  allocates each slot when a stream first needs it (on that
                                  stream, never during graph capture: a capturing stream that
                                  finds no allocated slot free runs without split-K, as
                                  spinfer_spmm_plan says). Older headers get 0. */
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

/**
 * Waits for the work queued on `stream` and gives back the split-K workspace slot the
 * stream was bound to (if any), so another stream can use it: a context has
 * spmm_workspace_slots slots, and a stream that finds none free runs without split-K
 * (spinfer_spmm_plan says so). The stream may be used again afterwards (it binds a slot
 * anew when it needs one). Nothing to do on a host context.
 */
SPINFER_API spinfer_status_t spinfer_context_release_stream(spinfer_context_t* ctx, void* stream);

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
typedef enum spinfer_location_t SPINFER_ENUM_INT {
  SPINFER_LOCATION_HOST = 0,
  SPINFER_LOCATION_DEVICE = 1
} spinfer_location_t;

/** Facts about an encoded matrix. Initialise with spinfer_matrix_info_init() (or set
 *  struct_size) before calling get_info. */
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
  uint64_t values_count;       /**< 16-bit elements in the values array (non-zeros + padding) */
  uint64_t bitmaps_count;      /**< uint64 words in the bitmaps array */
  uint64_t offsets_count;      /**< uint64 words in the group_offsets array */
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

/** Zero `info` and set its struct_size, as every other struct's _init does. */
SPINFER_API spinfer_status_t spinfer_matrix_info_init(spinfer_matrix_info_t* info);

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
 * spinfer_matrix_copy_arrays reads the arrays of a matrix back out.
 */
SPINFER_API spinfer_status_t spinfer_matrix_from_arrays(
    spinfer_matrix_t** out, int64_t rows, int64_t cols, spinfer_dtype_t dtype,
    uint32_t format_version, const uint16_t* values, uint64_t values_count,
    const uint64_t* bitmaps, uint64_t bitmaps_count, const uint64_t* group_offsets,
    uint64_t offsets_count);

/**
 * Copy the raw TCA-BME arrays of a host matrix (docs/format.md) into caller-owned
 * buffers: the inverse of spinfer_matrix_from_arrays, which rebuilds the same matrix,
 * bit for bit, from them (with the rows, cols, dtype and format_version of
 * spinfer_matrix_get_info). Each count must equal the one get_info reports
 * (values_count, bitmaps_count, offsets_count); `values` receives 16-bit elements
 * of the storage dtype, the others uint64 words. Pass a buffer as NULL with count 0
 * to skip that array, so one array can be fetched alone.
 * Statuses: INVALID_ARGUMENT (NULL matrix, or a NULL buffer with a non-zero count),
 * SHAPE_MISMATCH (a count that differs from the matrix's; the message names the
 * array and both counts), WRONG_LOCATION (a device matrix: download it first).
 * Nothing is written on failure. Thread-safe for one matrix, like every reader.
 */
SPINFER_API spinfer_status_t spinfer_matrix_copy_arrays(const spinfer_matrix_t* matrix,
                                                        uint16_t* values, uint64_t values_count,
                                                        uint64_t* bitmaps, uint64_t bitmaps_count,
                                                        uint64_t* group_offsets,
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
  int tile_n;         /**< CUDA: N columns per block (8, 16, 32, 64; 128 and 256 on compute
                           capability 9.0 with an sm_90a build, else NOT_SUPPORTED); 0 = chosen */
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
 *    asynchronous on `stream`; never synchronises and never calls cudaMalloc (a lazy
 *    context's first split-K call on a stream apart), so it may be captured in a CUDA
 *    graph. From 256 tokens on (where cuBLAS is found) the call takes the dense path
 *    (SPINFER_SPMM_KERNEL_DENSE_GEMM, reported by spinfer_spmm_plan): it takes a
 *    scratch of up to ~100 MiB stream-ordered (cudaMallocFromPoolAsync / cudaFreeAsync
 *    on `stream`, from a pool the context owns; capture records them as graph memory
 *    nodes) and returns OUT_OF_MEMORY when the device has not that much free.
 *
 * n may be 0 (nothing is done). y must not overlap x or bias.
 */
SPINFER_API spinfer_status_t spinfer_spmm(spinfer_context_t* ctx, const spinfer_matrix_t* w,
                                          const void* x, int64_t n, int64_t ldx, const void* bias,
                                          void* y, int64_t ldy, spinfer_dtype_t dtype, void* stream);

/** Which code runs an SpMM (spinfer_spmm_plan_t.kernel). */
typedef enum spinfer_spmm_kernel_t {
  SPINFER_SPMM_KERNEL_HOST = 0,        /**< the host backend */
  SPINFER_SPMM_KERNEL_BLOCK = 1,       /**< CUDA block kernel (sm_80 and newer) */
  SPINFER_SPMM_KERNEL_SPECIALISED = 2, /**< CUDA warp-specialised kernel (compute capability 9.0) */
  SPINFER_SPMM_KERNEL_WGMMA = 3,       /**< CUDA wgmma kernel (compute capability 9.0, sm_90a build) */
  SPINFER_SPMM_KERNEL_DENSE_GEMM = 4,  /**< CUDA prefill path: W decoded slab by slab into a
                                            stream-ordered scratch, multiplied by cuBLAS */
  SPINFER_SPMM_KERNEL_WARP_K = 5       /**< CUDA warp-K kernel for up to 16 tokens per tile: each
                                            warp decodes whole GroupTiles (compute capability 9.0) */
} spinfer_spmm_kernel_t;

/** What an SpMM call will do (spinfer_spmm_plan). Set struct_size before the call. */
typedef struct spinfer_spmm_plan_t {
  size_t struct_size;           /**< sizeof(spinfer_spmm_plan_t), set by the caller */
  spinfer_spmm_kernel_t kernel; /**< the code that runs it */
  int tile_n;                   /**< CUDA: tokens per block (8, 16, 32, 64, 128 or 256); host and
                                     DENSE_GEMM: 0 */
  int split_k;                  /**< CUDA: K slices (1 = none); host: 1 */
  int64_t launches;             /**< CUDA: kernel launches (1, more past 65535 token tiles; 0 for n = 0);
                                     DENSE_GEMM: slabs of W, one decode and one GEMM each */
  uint64_t workspace_bytes;     /**< CUDA: split-K workspace the call uses (0 = none); DENSE_GEMM:
                                     the scratch it takes stream-ordered from the context's
                                     pool for the call (decoded slab + cuBLAS workspace) */
  int runs_without_workspace;   /**< CUDA: 1 when split-K would be used but `stream` gets no
                                     workspace slot (all spmm_workspace_slots are bound to
                                     other streams): the call runs with split_k 1, slower
                                     when M x N is small */
  int host_threads;             /**< host: threads the call uses; CUDA: 0 */
} spinfer_spmm_plan_t;

/**
 * What spinfer_spmm_ex(ctx, w, ..., n, ..., dtype, options, stream) would do, without
 * running it: the same checks on `w`, `n`, `dtype` and `options` (may be NULL), no
 * arrays needed, nothing allocated, no workspace slot taken. To pin a configuration,
 * pass the plan's tile_n and split_k back in spinfer_spmm_options_t (the kernel follows
 * from tile_n on a given device).
 */
SPINFER_API spinfer_status_t spinfer_spmm_plan(spinfer_context_t* ctx, const spinfer_matrix_t* w,
                                               int64_t n, spinfer_dtype_t dtype,
                                               const spinfer_spmm_options_t* options, void* stream,
                                               spinfer_spmm_plan_t* plan);

/** spinfer_spmm with expert overrides (`options` may be NULL). */
SPINFER_API spinfer_status_t spinfer_spmm_ex(spinfer_context_t* ctx, const spinfer_matrix_t* w,
                                             const void* x, int64_t n, int64_t ldx,
                                             const void* bias, void* y, int64_t ldy,
                                             spinfer_dtype_t dtype,
                                             const spinfer_spmm_options_t* options, void* stream);

/* ======================================================================== */
/* 7. Layers, KV cache, models                                              */
/* ======================================================================== */
/*
 * Transformer building blocks whose linear maps are encoded sparse matrices, and a
 * model runner for OPT- and LLaMA-family decoders (Hugging Face conventions).
 *
 * Common rules of this section
 *   - Layers are created on a context from matrices and from small dense parameters
 *     (biases, norm weights) given as host arrays, which are copied. A host context
 *     takes host matrices; a CUDA context takes device matrices, or host matrices,
 *     which the layer uploads and owns. Layers REFER to the matrices they did not
 *     copy (device matrices on CUDA, host matrices on the host): keep those alive
 *     until the layer is destroyed. Joined (fused) projections are copies. A layer,
 *     KV cache or model must be destroyed before its context.
 *   - CUDA: hidden sizes and feature counts must be multiples of 8 (16-byte rows for
 *     the SpMM; MISALIGNED otherwise) and head_dim <= 256.
 *   - Activations are contiguous row-major [n, features] arrays. Host context: host
 *     pointers, dtype F32, F16 or BF16, synchronous. CUDA context: device pointers,
 *     dtype equal to the weights' storage dtype, 16-byte aligned, asynchronous on
 *     `stream`; forwards never allocate and never synchronise, so they may be
 *     captured in a CUDA graph.
 *   - Internally every layer accumulates in fp32; the residual stream of decoder
 *     layers and models is kept in fp32.
 *   - A layer handle runs one forward at a time (it owns scratch memory sized by
 *     `max_tokens`); use one handle per thread for concurrent forwards. A KV cache
 *     or model is likewise used by one thread at a time.
 *   - Statuses: INVALID_ARGUMENT (NULL, bad enum, n out of range), SHAPE_MISMATCH
 *     (matrix shapes that do not fit the config), UNSUPPORTED_DTYPE,
 *     WRONG_LOCATION (host matrix on a CUDA context or back), OUT_OF_MEMORY
 *     (cache blocks or scratch exhausted), CUDA_ERROR.
 */

/** Element-wise activation applied after a linear map (or inside a gated MLP). */
typedef enum spinfer_activation_t SPINFER_ENUM_INT {
  SPINFER_ACTIVATION_NONE = 0,      /**< identity */
  SPINFER_ACTIVATION_RELU = 1,      /**< max(x, 0) */
  SPINFER_ACTIVATION_GELU = 2,      /**< x * Phi(x), exact erf form (HF "gelu") */
  SPINFER_ACTIVATION_GELU_TANH = 3, /**< tanh approximation (HF "gelu_new") */
  SPINFER_ACTIVATION_SILU = 4       /**< x * sigmoid(x) (HF "silu") */
} spinfer_activation_t;

/** Decoder family: fixes the norm, position encoding and MLP shape. */
typedef enum spinfer_arch_t SPINFER_ENUM_INT {
  SPINFER_ARCH_OPT = 0,  /**< pre-LN LayerNorm, learned positions, biases, fc1 -> act -> fc2 */
  SPINFER_ARCH_LLAMA = 1 /**< RMSNorm, RoPE, no biases, act(gate) * up -> down, GQA */
} spinfer_arch_t;

/** Shape of an MLP block. */
typedef enum spinfer_mlp_kind_t SPINFER_ENUM_INT {
  SPINFER_MLP_PLAIN = 0, /**< down(act(up(x)))  (OPT: up = fc1, down = fc2) */
  SPINFER_MLP_GATED = 1  /**< down(act(gate(x)) * up(x))  (LLaMA) */
} spinfer_mlp_kind_t;

/* ---- 7.1 Linear ------------------------------------------------------------ */

/** Opaque sparse linear layer y = act(x * W^T + bias) (+ residual). */
typedef struct spinfer_linear spinfer_linear_t;

/** Linear options. Initialise with spinfer_linear_config_init(). */
typedef struct spinfer_linear_config_t {
  size_t struct_size;             /**< sizeof(spinfer_linear_config_t) */
  spinfer_activation_t activation; /**< default SPINFER_ACTIVATION_NONE */
} spinfer_linear_config_t;

/** Fill `config` with defaults (sets struct_size). */
SPINFER_API spinfer_status_t spinfer_linear_config_init(spinfer_linear_config_t* config);

/**
 * Create a linear layer from matrix `w` ([out_features, in_features]) and an optional
 * host array `bias` ([out_features] of `bias_dtype`, F32/F16/BF16; NULL = no bias),
 * which is copied (to the GPU on `stream` for a CUDA context). `config` may be NULL.
 */
SPINFER_API spinfer_status_t spinfer_linear_create(spinfer_context_t* ctx, spinfer_linear_t** out,
                                                   const spinfer_matrix_t* w, const void* bias,
                                                   spinfer_dtype_t bias_dtype,
                                                   const spinfer_linear_config_t* config,
                                                   void* stream);

/**
 * y[n, out] = act(x[n, in] * W^T + bias) + residual[n, out]. `residual` may be NULL;
 * it must not overlap y, and y must not overlap x. The bias is fused into the
 * product; activation and residual run as one epilogue pass.
 */
SPINFER_API spinfer_status_t spinfer_linear_forward(spinfer_context_t* ctx, spinfer_linear_t* layer,
                                                    const void* x, int64_t n, const void* residual,
                                                    void* y, spinfer_dtype_t dtype, void* stream);

/** Destroy a linear layer (its matrix is not touched). NULL is accepted. */
SPINFER_API spinfer_status_t spinfer_linear_destroy(spinfer_linear_t* layer);

/* ---- 7.2 MLP --------------------------------------------------------------- */

/** Opaque MLP block. */
typedef struct spinfer_mlp spinfer_mlp_t;

/** MLP options. Initialise with spinfer_mlp_config_init(). */
typedef struct spinfer_mlp_config_t {
  size_t struct_size;              /**< sizeof(spinfer_mlp_config_t) */
  spinfer_mlp_kind_t kind;         /**< default SPINFER_MLP_GATED */
  spinfer_activation_t activation; /**< default SPINFER_ACTIVATION_SILU */
  int64_t max_tokens;              /**< largest n of a forward (scratch size); default 512 */
  int fuse_gate_up;                /**< 1 (default): one SpMM over [gate; up] when rows allow */
} spinfer_mlp_config_t;

/** Fill `config` with defaults (sets struct_size). */
SPINFER_API spinfer_status_t spinfer_mlp_config_init(spinfer_mlp_config_t* config);

/**
 * Create an MLP. PLAIN: `up` = fc1 [inter, hidden], `gate` NULL, `down` = fc2
 * [hidden, inter]. GATED: `gate` and `up` [inter, hidden], `down` [hidden, inter].
 * `up_bias` ([inter]) and `down_bias` ([hidden]) are optional host arrays of
 * `bias_dtype` (copied). With fuse_gate_up the gate and up matrices are joined into
 * one encoded matrix (a copy) when inter is a multiple of 64.
 */
SPINFER_API spinfer_status_t spinfer_mlp_create(spinfer_context_t* ctx, spinfer_mlp_t** out,
                                                const spinfer_matrix_t* gate,
                                                const spinfer_matrix_t* up,
                                                const spinfer_matrix_t* down, const void* up_bias,
                                                const void* down_bias, spinfer_dtype_t bias_dtype,
                                                const spinfer_mlp_config_t* config, void* stream);

/** y[n, hidden] = mlp(x[n, hidden]) + residual (NULL = none; must not overlap y). */
SPINFER_API spinfer_status_t spinfer_mlp_forward(spinfer_context_t* ctx, spinfer_mlp_t* mlp,
                                                 const void* x, int64_t n, const void* residual,
                                                 void* y, spinfer_dtype_t dtype, void* stream);

/** Destroy an MLP. NULL is accepted. */
SPINFER_API spinfer_status_t spinfer_mlp_destroy(spinfer_mlp_t* mlp);

/* ---- 7.3 KV cache ---------------------------------------------------------- */

/**
 * Opaque paged key/value cache for several sequences and all layers of a model.
 * Memory is a pool of fixed-size blocks of `block_size` tokens; each sequence owns a
 * list of blocks (its block table), so nothing is reserved per maximum length.
 * Sequences are slots 0 .. max_sequences-1.
 */
typedef struct spinfer_kv_cache spinfer_kv_cache_t;

/** KV cache options. Initialise with spinfer_kv_cache_config_init(). */
typedef struct spinfer_kv_cache_config_t {
  size_t struct_size;          /**< sizeof(spinfer_kv_cache_config_t) */
  int num_layers;              /**< layers stored (>= 1) */
  int num_kv_heads;            /**< key/value heads per layer (>= 1) */
  int head_dim;                /**< elements per head (even, <= 256) */
  int block_size;              /**< tokens per block; default 16 */
  int64_t num_blocks;          /**< blocks in the pool (>= 1) */
  int max_sequences;           /**< sequence slots; default 8 */
  int64_t max_sequence_length; /**< longest sequence; default 4096 */
  spinfer_dtype_t dtype;       /**< stored element type; default F16 (CUDA: the weights' dtype) */
} spinfer_kv_cache_config_t;

/** Fill `config` with defaults (sets struct_size; the shape fields are 0 and must be set). */
SPINFER_API spinfer_status_t spinfer_kv_cache_config_init(spinfer_kv_cache_config_t* config);

/** Create a cache on the context's device (host memory for a host context). */
SPINFER_API spinfer_status_t spinfer_kv_cache_create(spinfer_context_t* ctx,
                                                     spinfer_kv_cache_t** out,
                                                     const spinfer_kv_cache_config_t* config);

/**
 * Start a step: sequence seq_ids[i] will receive new_tokens[i] (>= 1) new tokens,
 * appended after its current length (prefill: the prompt; decode: 1). Blocks are
 * taken from the pool (OUT_OF_MEMORY when it is empty; nothing changes then), the
 * lengths grow at once, and the step's layout is uploaded on `stream`. Then every
 * attention or decoder-layer forward on this cache, one per layer, processes
 * n = sum(new_tokens) tokens ordered sequence by sequence. A sequence may appear
 * only once per step.
 */
SPINFER_API spinfer_status_t spinfer_kv_cache_begin_step(spinfer_kv_cache_t* cache,
                                                         const int32_t* seq_ids,
                                                         const int32_t* new_tokens, int32_t count,
                                                         void* stream);

/** Current length (tokens stored) of sequence `seq`. */
SPINFER_API spinfer_status_t spinfer_kv_cache_sequence_length(const spinfer_kv_cache_t* cache,
                                                              int32_t seq, int64_t* length);

/** Return the blocks of sequence `seq` to the pool; its length becomes 0. */
SPINFER_API spinfer_status_t spinfer_kv_cache_release_sequence(spinfer_kv_cache_t* cache,
                                                               int32_t seq);

/** Number of unused blocks in the pool. */
SPINFER_API spinfer_status_t spinfer_kv_cache_free_blocks(const spinfer_kv_cache_t* cache,
                                                          int64_t* count);

/** Destroy a cache. NULL is accepted. */
SPINFER_API spinfer_status_t spinfer_kv_cache_destroy(spinfer_kv_cache_t* cache);

/* ---- 7.4 Attention ------------------------------------------------------------ */

/** Opaque self-attention block: sparse Q/K/V/O projections, dense attention over a KV cache. */
typedef struct spinfer_attention spinfer_attention_t;

/** Attention options. Initialise with spinfer_attention_config_init(). */
typedef struct spinfer_attention_config_t {
  size_t struct_size;  /**< sizeof(spinfer_attention_config_t) */
  int num_heads;       /**< query heads (must be set) */
  int num_kv_heads;    /**< key/value heads; 0 = num_heads (multi-head attention) */
  int head_dim;        /**< 0 = hidden / num_heads */
  int use_rope;        /**< 1 (default): rotary positions (HF rotate-half form) */
  double rope_theta;   /**< default 10000 */
  double scale;        /**< score scale; 0 (default) = 1 / sqrt(head_dim) */
  int64_t max_tokens;  /**< largest n of a forward; default 512 */
  int fuse_qkv;        /**< 1 (default): one SpMM over [Q; K; V] when rows allow */
} spinfer_attention_config_t;

/** Fill `config` with defaults (sets struct_size). */
SPINFER_API spinfer_status_t spinfer_attention_config_init(spinfer_attention_config_t* config);

/**
 * Create an attention block from q ([heads*head_dim, hidden]), k and v
 * ([kv_heads*head_dim, hidden]) and o ([hidden, heads*head_dim]) with optional host
 * biases of `bias_dtype` (NULL = none).
 */
SPINFER_API spinfer_status_t spinfer_attention_create(
    spinfer_context_t* ctx, spinfer_attention_t** out, const spinfer_matrix_t* q,
    const spinfer_matrix_t* k, const spinfer_matrix_t* v, const spinfer_matrix_t* o,
    const void* q_bias, const void* k_bias, const void* v_bias, const void* o_bias,
    spinfer_dtype_t bias_dtype, const spinfer_attention_config_t* config, void* stream);

/**
 * y = attention(x) + residual (NULL = none) for the current step of `cache`
 * (spinfer_kv_cache_begin_step): projects x[n, hidden], applies RoPE at each token's
 * position, appends K and V to layer `layer_index` of the cache, attends causally
 * over each sequence's cached tokens (decode: split over the sequence length when it
 * is long) and applies the output projection.
 */
SPINFER_API spinfer_status_t spinfer_attention_forward(spinfer_context_t* ctx,
                                                       spinfer_attention_t* attention,
                                                       spinfer_kv_cache_t* cache,
                                                       int layer_index, const void* x, int64_t n,
                                                       const void* residual, void* y,
                                                       spinfer_dtype_t dtype, void* stream);

/** Destroy an attention block. NULL is accepted. */
SPINFER_API spinfer_status_t spinfer_attention_destroy(spinfer_attention_t* attention);

/* ---- 7.5 Decoder layer ----------------------------------------------------- */

/** Opaque full decoder layer: norm -> attention -> residual -> norm -> MLP -> residual. */
typedef struct spinfer_decoder_layer spinfer_decoder_layer_t;

/** Decoder layer options. Initialise with spinfer_decoder_config_init(). */
typedef struct spinfer_decoder_config_t {
  size_t struct_size;              /**< sizeof(spinfer_decoder_config_t) */
  spinfer_arch_t arch;             /**< default SPINFER_ARCH_LLAMA */
  int64_t hidden_size;             /**< must be set */
  int64_t intermediate_size;       /**< must be set */
  int num_heads;                   /**< must be set */
  int num_kv_heads;                /**< 0 = num_heads */
  int head_dim;                    /**< 0 = hidden / num_heads */
  double norm_eps;                 /**< default 1e-5 */
  double rope_theta;               /**< LLaMA only; default 10000 */
  spinfer_activation_t activation; /**< NONE (default) = the family's: ReLU (OPT), SiLU (LLaMA) */
  int64_t max_tokens;              /**< largest n of a forward; default 512 */
  int fuse_projections;            /**< 1 (default): fused QKV and gate/up SpMMs where they fit */
} spinfer_decoder_config_t;

/** Fill `config` with defaults (sets struct_size). */
SPINFER_API spinfer_status_t spinfer_decoder_config_init(spinfer_decoder_config_t* config);

/**
 * Weights of one decoder layer. Matrices are referred to (keep them alive); dense
 * arrays are host arrays of `dense_dtype`, copied at creation. OPT: up = fc1,
 * down = fc2, gate NULL, all biases and both norm biases present (LayerNorm).
 * LLaMA: gate/up/down, biases NULL (attention biases allowed), norm biases NULL
 * (RMSNorm). attn_norm is applied before attention (OPT self_attn_layer_norm,
 * LLaMA input_layernorm), mlp_norm before the MLP (OPT final_layer_norm, LLaMA
 * post_attention_layernorm).
 */
typedef struct spinfer_decoder_weights_t {
  size_t struct_size; /**< sizeof(spinfer_decoder_weights_t) */
  const spinfer_matrix_t* q_proj;
  const spinfer_matrix_t* k_proj;
  const spinfer_matrix_t* v_proj;
  const spinfer_matrix_t* o_proj;
  const spinfer_matrix_t* gate_proj;
  const spinfer_matrix_t* up_proj;
  const spinfer_matrix_t* down_proj;
  const void* q_bias;
  const void* k_bias;
  const void* v_bias;
  const void* o_bias;
  const void* up_bias;
  const void* down_bias;
  const void* attn_norm_weight;
  const void* attn_norm_bias;
  const void* mlp_norm_weight;
  const void* mlp_norm_bias;
  spinfer_dtype_t dense_dtype; /**< dtype of every dense array above: F32, F16 or BF16 */
} spinfer_decoder_weights_t;

/** Zero `weights` and set its struct_size (dense_dtype F32). */
SPINFER_API spinfer_status_t spinfer_decoder_weights_init(spinfer_decoder_weights_t* weights);

/** Create a decoder layer (`config` must give the sizes). */
SPINFER_API spinfer_status_t spinfer_decoder_layer_create(spinfer_context_t* ctx,
                                                          spinfer_decoder_layer_t** out,
                                                          const spinfer_decoder_weights_t* weights,
                                                          const spinfer_decoder_config_t* config,
                                                          void* stream);

/**
 * y[n, hidden] = layer(x[n, hidden]) for the current step of `cache`, using cache
 * layer `layer_index`. Residuals are inside the layer. y may equal x.
 */
SPINFER_API spinfer_status_t spinfer_decoder_layer_forward(spinfer_context_t* ctx,
                                                           spinfer_decoder_layer_t* layer,
                                                           spinfer_kv_cache_t* cache,
                                                           int layer_index, const void* x,
                                                           int64_t n, void* y,
                                                           spinfer_dtype_t dtype, void* stream);

/** Destroy a decoder layer. NULL is accepted. */
SPINFER_API spinfer_status_t spinfer_decoder_layer_destroy(spinfer_decoder_layer_t* layer);

/* ---- 7.6 Models ------------------------------------------------------------ */

/** Opaque decoder-only language model with its own KV cache and scratch memory. */
typedef struct spinfer_model spinfer_model_t;

/** Model runtime options. Initialise with spinfer_model_config_init(). */
typedef struct spinfer_model_config_t {
  size_t struct_size;          /**< sizeof(spinfer_model_config_t) */
  int max_sequences;           /**< sequence slots of the KV cache; default 8 */
  int64_t max_batch_tokens;    /**< most tokens in one prefill / decode call; default 512 */
  int64_t max_sequence_length; /**< 0 (default) = the model's max_position_embeddings */
  int kv_block_size;           /**< tokens per KV block; default 16 */
  int64_t kv_num_blocks;       /**< 0 (default) = enough for every slot at full length, or as many
                                    as fit in half the memory free after the weights (device
                                    memory on CUDA, available RAM on the host), whichever is
                                    less: see kv_cache_tokens in spinfer_model_info_t */
  int use_cuda_graphs;         /**< 1 (default): replay decode steps from CUDA graphs */
} spinfer_model_config_t;

/** Facts about a loaded model. Set struct_size before calling get_info. */
typedef struct spinfer_model_info_t {
  size_t struct_size;              /**< sizeof(spinfer_model_info_t), set by the caller */
  spinfer_arch_t arch;
  int64_t vocab_size;
  int64_t hidden_size;
  int64_t intermediate_size;
  int64_t num_layers;
  int num_heads;
  int num_kv_heads;
  int head_dim;
  int64_t max_position_embeddings;
  spinfer_dtype_t dtype;           /**< storage dtype of the weights */
  uint64_t weight_bytes;           /**< encoded matrices + dense tensors, as loaded */
  uint64_t dense_weight_bytes;     /**< the same model with every matrix dense (2 bytes/element) */
  uint64_t kv_cache_bytes;         /**< KV cache pool */
  int64_t kv_cache_tokens;         /**< tokens the KV cache holds, all sequences together */
} spinfer_model_info_t;

/** Fill `config` with defaults (sets struct_size). */
SPINFER_API spinfer_status_t spinfer_model_config_init(spinfer_model_config_t* config);

/**
 * Load a model from directory `dir`: a Hugging Face `config.json` (model_type "opt",
 * "llama", "mistral", "qwen2" or "qwen3"; the last two report SPINFER_ARCH_LLAMA in
 * spinfer_model_info_t) and *.safetensors files holding the weights under Hugging
 * Face names. A linear weight may be a spinfer matrix (spinfer_convert_model writes
 * such a directory) or a dense F32/F16/BF16 tensor, as in an unconverted Hugging Face
 * checkpoint (one file or several shards): a dense one is encoded at load, its zeros
 * (a pruned checkpoint's) dropped, nothing else changed. Weights go to the context's
 * device on `stream` (the call returns when they are there). `config` may be NULL.
 * Bad or missing fields give CORRUPT_DATA / NOT_FOUND naming the field; features
 * outside these families (e.g. rope_scaling kinds other than "llama3", sliding-window
 * attention) give NOT_SUPPORTED.
 */
SPINFER_API spinfer_status_t spinfer_model_load(spinfer_context_t* ctx, spinfer_model_t** out,
                                                const char* dir,
                                                const spinfer_model_config_t* config,
                                                void* stream);

/** Fill `info` (its struct_size must be set). */
SPINFER_API spinfer_status_t spinfer_model_get_info(const spinfer_model_t* model,
                                                    spinfer_model_info_t* info);

/**
 * Append `count` prompt tokens to sequence `seq` and run them through the model.
 * `logits` (host, float32, [vocab_size], may be NULL) receives the logits of the
 * last token. Synchronises `stream` when logits is not NULL. If the call fails,
 * the sequence keeps the length it had before it (what the call appended to the KV
 * cache is dropped), so it can be retried as it was.
 */
SPINFER_API spinfer_status_t spinfer_model_prefill(spinfer_context_t* ctx, spinfer_model_t* model,
                                                   int32_t seq, const int32_t* tokens,
                                                   int64_t count, float* logits, void* stream);

/**
 * One decode step: token tokens[i] is appended to sequence seq_ids[i] (each listed
 * once), and `logits` (host, float32, [count, vocab_size], may be NULL) receives
 * the next-token logits of each. Synchronises `stream` when logits is not NULL.
 * On CUDA, steps of a given `count` are captured once into a CUDA graph and
 * replayed (when use_cuda_graphs is set). If the call fails, every listed sequence
 * keeps the length it had before it.
 */
SPINFER_API spinfer_status_t spinfer_model_decode_step(spinfer_context_t* ctx,
                                                       spinfer_model_t* model,
                                                       const int32_t* seq_ids,
                                                       const int32_t* tokens, int32_t count,
                                                       float* logits, void* stream);

/**
 * Greedy generation for one sequence: prefill `prompt` (appended to `seq`), then up
 * to `max_new_tokens` decode steps, each taking the arg-max token (lowest id on
 * ties), stopping after `eos_token` (-1: never). out_tokens ([max_new_tokens])
 * receives the generated tokens and `generated` their number. If the call fails,
 * `seq` is back to the length it had before the call (the prompt is dropped too).
 */
SPINFER_API spinfer_status_t spinfer_model_generate_greedy(
    spinfer_context_t* ctx, spinfer_model_t* model, int32_t seq, const int32_t* prompt,
    int64_t prompt_length, int64_t max_new_tokens, int32_t eos_token, int32_t* out_tokens,
    int64_t* generated, void* stream);

/** Forget sequence `seq` (its KV blocks return to the pool; its length becomes 0). */
SPINFER_API spinfer_status_t spinfer_model_release_sequence(spinfer_model_t* model, int32_t seq);

/** Current length of sequence `seq` in tokens. */
SPINFER_API spinfer_status_t spinfer_model_sequence_length(const spinfer_model_t* model,
                                                           int32_t seq, int64_t* length);

/** Destroy a model, its matrices and its KV cache. NULL is accepted. */
SPINFER_API spinfer_status_t spinfer_model_destroy(spinfer_model_t* model);

/* ======================================================================== */
/* 8. Pruning and model conversion                                          */
/* ======================================================================== */

/**
 * Unstructured magnitude pruning of the host float32 matrix `weights` ([rows, cols],
 * leading dimension ld >= cols), in place: in each group (the whole matrix, or each row
 * when `per_row` is non-zero) the round(sparsity * n) entries of smallest magnitude
 * become zero (n = the group's size; round half to even). The threshold is strict: an
 * entry is pruned iff its magnitude is below that of the smallest entry kept, so entries
 * tied at the threshold are all kept and never more than asked is pruned. Existing zeros
 * count among the pruned; NaN is never pruned. `zeros` (may be NULL) receives the number
 * of zeros afterwards. INVALID_ARGUMENT unless 0 <= sparsity < 1, rows, cols >= 1.
 * Thread-safe. The converter and `spinfer demo` prune with this function.
 */
SPINFER_API spinfer_status_t spinfer_prune_magnitude(float* weights, int64_t rows, int64_t cols, int64_t ld,
                                                     double sparsity, int per_row, int64_t* zeros);

/** Progress of spinfer_convert_model, passed to the options' callback. */
typedef struct spinfer_convert_progress_t {
  size_t struct_size;    /**< sizeof(spinfer_convert_progress_t) */
  int64_t tensors_done;  /**< output tensors written so far (an encoded matrix counts once) */
  int64_t tensors_total;
  uint64_t bytes_done;   /**< source bytes of the tensors done */
  uint64_t bytes_total;
  const char* tensor;    /**< name of the tensor just done (valid during the call) */
  const char* note;      /**< what was done to it, e.g. "pruned, sparsity 0.600" or
                              "left dense: ..."; "" for tensors copied as they are */
} spinfer_convert_progress_t;

/** Progress callback: called on the thread that called spinfer_convert_model, once per tensor. */
typedef void (*spinfer_convert_progress_fn)(const spinfer_convert_progress_t* progress, void* user_data);

/** Conversion options. Initialise with spinfer_convert_options_init(). */
typedef struct spinfer_convert_options_t {
  size_t struct_size;        /**< sizeof(spinfer_convert_options_t) */
  double sparsity;           /**< 0 (default): keep the checkpoint's zeros as they are; else prune each
                                  linear weight of the decoder layers by magnitude to this fraction
                                  of zeros, in [0, 1) (the LM head is never pruned) */
  int prune_per_row;         /**< 1: prune each output row to `sparsity`; 0 (default): each matrix */
  spinfer_dtype_t dtype;     /**< storage dtype of the output: F16 (default) or BF16 */
  uint64_t shard_size;       /**< largest output shard in bytes (a larger single matrix gets a shard
                                  of its own); default 2 GiB. One shard: model.safetensors;
                                  several: model-0000i-of-0000n.safetensors + model.safetensors.index.json */
  int threads;               /**< worker threads; 0 (default) = hardware concurrency */
  int verify;                /**< 1 (default): decode every encoded matrix and compare it with the source */
  spinfer_convert_progress_fn progress; /**< NULL (default) or called after each tensor */
  void* progress_user_data;  /**< passed to `progress` */
} spinfer_convert_options_t;

/** What spinfer_convert_model did. Set struct_size (or use _init) before the call. */
typedef struct spinfer_convert_report_t {
  size_t struct_size;         /**< sizeof(spinfer_convert_report_t), set by the caller */
  int64_t tensors;            /**< output tensors (an encoded matrix counts once) */
  int64_t matrices;           /**< weights written as TCA-BME matrices */
  int64_t matrices_dense;     /**< matrix weights (linear, lm_head) left dense: encoding would not make them smaller */
  int64_t imported;           /**< compressed-tensors sparse-bitmask weights imported */
  int64_t linear_nnz;         /**< non-zeros of the decoder layers' linear weights (LM head excluded) */
  int64_t linear_elements;    /**< their elements: 1 - nnz / elements is the linear sparsity */
  uint64_t bytes_read;        /**< tensor bytes of the source */
  uint64_t bytes_written;     /**< tensor bytes of the output */
  int shards;                 /**< safetensors files written */
} spinfer_convert_report_t;

/** Fill `options` with defaults (sets struct_size). */
SPINFER_API spinfer_status_t spinfer_convert_options_init(spinfer_convert_options_t* options);

/** Zero `report` and set its struct_size. */
SPINFER_API spinfer_status_t spinfer_convert_report_init(spinfer_convert_report_t* report);

/**
 * Convert the Hugging Face checkpoint directory `src_dir` (config.json plus
 * model.safetensors, or shards listed by model.safetensors.index.json, or every
 * *.safetensors file; F32, F16 or BF16 tensors) into a spinfer model directory
 * `dst_dir` (created if needed; not the source) that spinfer_model_load reads:
 *   - the linear weights of the decoder layers (q/k/v/o_proj, out_proj, fc1/fc2,
 *     gate/up/down_proj) and lm_head become TCA-BME matrices, keeping the zeros the
 *     checkpoint has, or pruned first (options->sparsity); a weight that encoding would
 *     not make smaller (an unpruned LM head) stays dense, and the progress note says so;
 *   - other float tensors are stored dense in options->dtype; others are copied;
 *   - a compressed-tensors checkpoint (config.json quantization_config or
 *     compression_config with a sparsity_config of format "sparse-bitmask") has its
 *     NAME.compressed / .bitmask / .row_offsets / .shape tensors imported straight into
 *     TCA-BME, without a dense copy of the weight;
 *   - config.json is copied with torch_dtype set (and its compression entry removed),
 *     with tokenizer and generation files; output shards of an earlier conversion left
 *     in dst_dir (model*.safetensors, the index) are replaced or removed.
 * Source shards are mapped, not read into memory; tensors are converted on
 * options->threads threads, with at most two per thread waiting to be written, and at
 * most one output shard is held in memory. With options->verify every matrix is
 * decoded and compared with its source. `options` and `report` may be NULL.
 * Statuses: NOT_SUPPORTED naming the method or format for a quantized checkpoint (a
 * quant_method other than compressed-tensors, a config group with quantized weights, a
 * quantized format) or a compression format other than dense / sparse-bitmask;
 * CORRUPT_DATA for malformed files or compressed tensors (bad shapes, row_offsets that
 * disagree with the bitmask, a bitmask of the wrong length), naming the tensor;
 * IO_ERROR / NOT_FOUND for missing or unreadable files; INVALID_ARGUMENT for bad
 * options; INTERNAL_ERROR if a matrix does not decode back to its source. On failure
 * the shards of this call are removed. Thread-safe (distinct destinations).
 */
SPINFER_API spinfer_status_t spinfer_convert_model(const char* src_dir, const char* dst_dir,
                                                   const spinfer_convert_options_t* options,
                                                   spinfer_convert_report_t* report);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SPINFER_H */
