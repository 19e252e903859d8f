// DeviceMatrix storage.
#include "cuda/device_matrix.hpp"

#include <algorithm>

#include "common/fault_injection.hpp"
#include "cuda/cuda_check.hpp"

namespace spinfer::cuda {

DeviceMatrix::~DeviceMatrix() {
  int previous = 0;
  const bool have_previous = cudaGetDevice(&previous) == cudaSuccess;
  if (have_previous && previous != device) cudaSetDevice(device);
  // cudaFree waits for work that may still read the arrays.
  cudaFree(values);
  cudaFree(bitmaps);
  cudaFree(group_offsets);
  if (have_previous && previous != device) cudaSetDevice(previous);
}

void DeviceMatrix::allocate(uint64_t n_values, uint64_t n_bitmaps, uint64_t n_offsets) {
  values_count = n_values;
  bitmaps_count = n_bitmaps;
  offsets_count = n_offsets;
  void* p = nullptr;
  // At least 8 values so the pointer is never null and 16-byte loads stay in bounds.
  check_cuda(SPINFER_FAULT_OR(device_alloc, cudaErrorMemoryAllocation, cudaMalloc(&p, std::max<uint64_t>(n_values, 8) * sizeof(uint16_t))),
             "cudaMalloc(values)");
  values = static_cast<uint16_t*>(p);
  check_cuda(SPINFER_FAULT_OR(device_alloc, cudaErrorMemoryAllocation, cudaMalloc(&p, std::max<uint64_t>(n_bitmaps, 1) * sizeof(uint64_t))),
             "cudaMalloc(bitmaps)");
  bitmaps = static_cast<uint64_t*>(p);
  check_cuda(SPINFER_FAULT_OR(device_alloc, cudaErrorMemoryAllocation, cudaMalloc(&p, std::max<uint64_t>(n_offsets, 1) * sizeof(uint64_t))),
             "cudaMalloc(group_offsets)");
  group_offsets = static_cast<uint64_t*>(p);
}

}  // namespace spinfer::cuda
