// GPU encoder: dense matrix on the device -> TCA-BME device matrix, bit for bit the same
// arrays as the host encoder (core/format/encode.cpp) followed by an upload.
//
// Three passes: (1) one block per GroupTile builds its 64 bitmaps with warp ballots and
// counts its non-zeros; (2) one block scans the counts into group_offsets (runs padded
// to 8 elements) and the total; (3) after the host learns the total and allocates the
// values, one block per GroupTile writes each non-zero at its rank in the run.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "common/fault_injection.hpp"
#include "cuda/bitmap_layout.cuh"
#include "cuda/cuda_check.hpp"
#include "cuda/device_context.hpp"
#include "cuda/device_matrix.hpp"
#include "format/tca_bme.hpp"

namespace spinfer::cuda {
namespace {

// ---- exact conversions, the same bit-level rules as common/dtype.cpp ----
__device__ __forceinline__ float dev_half_to_float(uint32_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0x1f) return __uint_as_float(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return __uint_as_float(sign);
    const float f = float(mant) * 0x1p-24f;
    return sign ? -f : f;
  }
  return __uint_as_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

__device__ __forceinline__ uint16_t dev_float_to_half(float f) {
  const uint32_t u = __float_as_uint(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);
  if (a < 0x38800000u) {
    if (a < 0x33000000u) return sign;
    const uint32_t exp = a >> 23, mant = (a & 0x7fffffu) | 0x800000u, shift = 126u - exp;
    uint32_t q = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return uint16_t(sign | q);
  }
  uint32_t r = a - 0x38000000u;
  r += 0xfffu + ((r >> 13) & 1u);
  return uint16_t(sign | (r >> 13));
}

__device__ __forceinline__ uint16_t dev_float_to_bf16(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

// Element `index` of the dense input as storage bits (round to nearest even).
__device__ __forceinline__ uint16_t load_storage(const void* dense, int src, int64_t index,
                                                 int storage) {
  float f;
  if (src == int(DType::f32)) {
    f = static_cast<const float*>(dense)[index];
  } else {
    const uint16_t v = static_cast<const uint16_t*>(dense)[index];
    if (src == storage) return v;
    f = src == int(DType::f16) ? dev_half_to_float(v) : __uint_as_float(uint32_t(v) << 16);
  }
  return storage == int(DType::f16) ? dev_float_to_half(f) : dev_float_to_bf16(f);
}

struct EncodeShape {
  const void* dense;
  int src, storage;
  int64_t rows, cols, ld, group_cols, groups;
};

// Element e (0..63) of BitmapTile b of GroupTile g as storage bits, 0 outside the matrix.
__device__ __forceinline__ uint16_t tile_element(const EncodeShape& s, int64_t g, int b, int e) {
  // TCTile t = b / 4 row-major 4 x 4; BitmapTile b % 4 column-major 2 x 2 (docs/format.md).
  const int64_t r = g / s.group_cols * 64 + (b / 4) / 4 * 16 + (b % 4) % 2 * 8 + e / 8;
  const int64_t c = g % s.group_cols * 64 + (b / 4) % 4 * 16 + (b % 4) / 2 * 8 + e % 8;
  if (r >= s.rows || c >= s.cols) return 0;
  return load_storage(s.dense, s.src, r * s.ld + c, s.storage);
}

__device__ __forceinline__ bool is_zero(uint16_t v) { return (v & 0x7fffu) == 0; }

// Pass 1: bitmaps and the non-zero count of every GroupTile (256 threads, 8 per warp).
__global__ void __launch_bounds__(256) encode_bitmaps_kernel(EncodeShape s, uint32_t* bitmaps,
                                                             uint32_t* counts) {
  __shared__ uint32_t warp_count[8];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int64_t g = blockIdx.x; g < s.groups; g += gridDim.x) {
    uint32_t count = 0;
    for (int b = warp; b < 64; b += 8) {
      const uint32_t lo = __ballot_sync(0xffffffffu, !is_zero(tile_element(s, g, b, lane)));
      const uint32_t hi = __ballot_sync(0xffffffffu, !is_zero(tile_element(s, g, b, lane + 32)));
      if (lane == 0) store_split_bitmap(bitmaps, g, b, uint64_t(lo) | (uint64_t(hi) << 32));
      count += __popc(lo) + __popc(hi);
    }
    if (lane == 0) warp_count[warp] = count;
    __syncthreads();
    if (threadIdx.x == 0) {
      uint32_t total = 0;
      for (int w = 0; w < 8; ++w) total += warp_count[w];
      counts[g] = total;
    }
    __syncthreads();
  }
}

// Pass 2 (one block of 1024): offsets[g] = sum of padded counts before g; totals[0] =
// offsets[groups] (values length), totals[1] = nnz, totals[2] = the longest padded run.
__global__ void __launch_bounds__(1024) encode_offsets_kernel(const uint32_t* counts, int64_t groups,
                                                              uint64_t* offsets, uint64_t* totals) {
  __shared__ uint64_t part[1024], nz[1024], longest[1024];
  const int t = threadIdx.x;
  const int64_t per = (groups + 1023) / 1024;
  const int64_t begin = min(groups, t * per), end = min(groups, begin + per);
  uint64_t sum = 0, nnz = 0, most = 0;
  for (int64_t g = begin; g < end; ++g) {
    sum += (counts[g] + 7u) & ~7u;
    nnz += counts[g];
    most = max(most, uint64_t((counts[g] + 7u) & ~7u));
  }
  part[t] = sum;
  nz[t] = nnz;
  longest[t] = most;
  __syncthreads();
  if (t == 0) {
    uint64_t run = 0, total_nnz = 0, most = 0;
    for (int i = 0; i < 1024; ++i) {
      const uint64_t v = part[i];
      part[i] = run;
      run += v;
      total_nnz += nz[i];
      most = max(most, longest[i]);
    }
    totals[0] = run;
    totals[1] = total_nnz;
    totals[2] = most;
    offsets[groups] = run;
  }
  __syncthreads();
  uint64_t run = part[t];
  for (int64_t g = begin; g < end; ++g) {
    offsets[g] = run;
    run += (counts[g] + 7u) & ~7u;
  }
}

// Pass 3: the values of every GroupTile at their rank, then the zero padding.
__global__ void __launch_bounds__(256) encode_values_kernel(EncodeShape s, const uint32_t* bitmaps,
                                                            const uint64_t* offsets,
                                                            uint16_t* values) {
  __shared__ uint32_t start[65];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int64_t g = blockIdx.x; g < s.groups; g += gridDim.x) {
    if (threadIdx.x == 0) {
      uint32_t run = 0;
      for (int b = 0; b < 64; ++b) {
        start[b] = run;
        run += __popcll(split_bitmap(bitmaps, g, b));
      }
      start[64] = run;
    }
    __syncthreads();
    uint16_t* out = values + offsets[g];
    for (int b = warp; b < 64; b += 8) {
      const uint64_t bits = split_bitmap(bitmaps, g, b);
      for (int e = lane; e < 64; e += 32) {
        if ((bits >> e) & 1u) {
          const uint32_t rank = __popcll(bits & ((uint64_t(1) << e) - 1u));
          out[start[b] + rank] = tile_element(s, g, b, e);
        }
      }
    }
    const uint32_t n = start[64], padded = (n + 7u) & ~7u;
    if (threadIdx.x < padded - n) out[n + threadIdx.x] = 0;
    __syncthreads();
  }
}

}  // namespace

DeviceMatrixPtr encode_device(DeviceContext& ctx, const void* dense, DType dense_dtype,
                              int64_t rows, int64_t cols, int64_t ld, DType storage,
                              void* stream) {
  require(dense != nullptr, SPINFER_STATUS_INVALID_ARGUMENT, "dense matrix pointer is NULL");
  require(is_valid(dense_dtype), SPINFER_STATUS_UNSUPPORTED_DTYPE,
          "dense dtype must be F32, F16 or BF16");
  require(is_storage_dtype(storage), SPINFER_STATUS_UNSUPPORTED_DTYPE,
          "storage dtype must be F16 or BF16");
  require(rows >= 1 && cols >= 1, SPINFER_STATUS_INVALID_ARGUMENT, [&] {
    return "matrix shape must be at least 1 x 1, got " + std::to_string(rows) + " x " +
           std::to_string(cols);
  });
  require(rows <= (int64_t(1) << 31) && cols <= (int64_t(1) << 31) &&
              double(rows) * double(cols) < 9.0e15,
          SPINFER_STATUS_INVALID_ARGUMENT, "matrix shape is too large");
  require(ld >= cols, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
    return "leading dimension " + std::to_string(ld) + " is smaller than cols " + std::to_string(cols);
  });
  require(reinterpret_cast<uintptr_t>(dense) % dtype_size(dense_dtype) == 0,
          SPINFER_STATUS_MISALIGNED, "dense pointer is not aligned to its element size");
  {
    cudaPointerAttributes attr{};
    const cudaError_t err = cudaPointerGetAttributes(&attr, dense);
    if (err != cudaSuccess) cudaGetLastError();
    require(err == cudaSuccess &&
                (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged),
            SPINFER_STATUS_WRONG_LOCATION,
            "dense is not a device pointer (use spinfer_matrix_encode for host data)");
    require(attr.type == cudaMemoryTypeManaged || attr.device == ctx.device(),
            SPINFER_STATUS_WRONG_LOCATION, "dense lives on another device than the context's");
  }

  DeviceGuard guard(ctx.device());
  const cudaStream_t s = as_stream(stream);
  const TileGrid grid{rows, cols};
  const int64_t groups = grid.groups();

  DeviceMatrixPtr m(new DeviceMatrix);
  m->rows = rows;
  m->cols = cols;
  m->dtype = storage;
  m->device = ctx.device();

  // Bitmaps and offsets first; values once their length is known.
  void* tmp = nullptr;
  check_cuda(SPINFER_FAULT_OR(device_alloc, cudaErrorMemoryAllocation, cudaMalloc(&tmp, size_t(groups) * sizeof(uint32_t) + 3 * sizeof(uint64_t))),
             "cudaMalloc(encoder scratch)");
  struct Free {
    void* p;
    ~Free() { cudaFree(p); }
  } free_tmp{tmp};
  uint64_t* totals = static_cast<uint64_t*>(tmp);
  uint32_t* counts = reinterpret_cast<uint32_t*>(totals + 3);

  void* p = nullptr;
  check_cuda(SPINFER_FAULT_OR(device_alloc, cudaErrorMemoryAllocation, cudaMalloc(&p, size_t(grid.bitmap_count()) * 8)), "cudaMalloc(bitmaps)");
  m->bitmaps = static_cast<uint64_t*>(p);
  check_cuda(SPINFER_FAULT_OR(device_alloc, cudaErrorMemoryAllocation, cudaMalloc(&p, size_t(groups + 1) * 8)), "cudaMalloc(group_offsets)");
  m->group_offsets = static_cast<uint64_t*>(p);
  m->bitmaps_count = uint64_t(grid.bitmap_count());
  m->offsets_count = uint64_t(groups) + 1;

  const EncodeShape shape{dense, int(dense_dtype), int(storage), rows, cols, ld,
                          grid.group_cols(), groups};
  const unsigned blocks = unsigned(std::min<int64_t>(groups, int64_t(ctx.sm_count()) * 16));
  uint32_t* words = reinterpret_cast<uint32_t*>(m->bitmaps);  // written in the device layout
  encode_bitmaps_kernel<<<blocks, 256, 0, s>>>(shape, words, counts);
  check_cuda(cudaGetLastError(), "launching the GPU encoder (bitmaps)");
  encode_offsets_kernel<<<1, 1024, 0, s>>>(counts, groups, m->group_offsets, totals);
  check_cuda(cudaGetLastError(), "launching the GPU encoder (offsets)");
  uint64_t host_totals[3] = {0, 0, 0};
  check_cuda(cudaMemcpyAsync(host_totals, totals, sizeof(host_totals), cudaMemcpyDeviceToHost, s),
             "cudaMemcpyAsync(encoder totals)");
  check_cuda(cudaStreamSynchronize(s), "cudaStreamSynchronize(GPU encoder)");

  check_cuda(SPINFER_FAULT_OR(device_alloc, cudaErrorMemoryAllocation, cudaMalloc(&p, std::max<uint64_t>(host_totals[0], 8) * 2)), "cudaMalloc(values)");
  m->values = static_cast<uint16_t*>(p);
  m->values_count = host_totals[0];
  m->nnz = int64_t(host_totals[1]);
  m->max_group_values = uint32_t(host_totals[2]);
  encode_values_kernel<<<blocks, 256, 0, s>>>(shape, words, m->group_offsets, m->values);
  check_cuda(cudaGetLastError(), "launching the GPU encoder (values)");
  // The scratch is freed on return (cudaFree waits for the device), so the matrix is
  // complete before the caller sees it.
  return m;
}

}  // namespace spinfer::cuda
