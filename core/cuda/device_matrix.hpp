// An encoded TCA-BME matrix whose arrays live on one GPU (docs/format.md). Immutable
// once built; owns its three device arrays and frees them on destruction.
#pragma once

#include <cstdint>

#include "common/dtype.hpp"
#include "cuda/cuda_backend.hpp"

namespace spinfer::cuda {

struct DeviceMatrix {
  int64_t rows = 0, cols = 0, nnz = 0;
  DType dtype = DType::f16;
  int device = 0;
  uint64_t values_count = 0, bitmaps_count = 0, offsets_count = 0;
  // Values of the longest GroupTile run (padded, <= 4096): sizes the SpMM pipeline stages.
  uint32_t max_group_values = 0;
  uint16_t* values = nullptr;         // values_count elements (at least 8 allocated)
  uint64_t* bitmaps = nullptr;        // bitmaps_count words, in the device layout (bitmap_layout.hpp)
  uint64_t* group_offsets = nullptr;  // offsets_count words

  DeviceMatrix() = default;
  DeviceMatrix(const DeviceMatrix&) = delete;
  DeviceMatrix& operator=(const DeviceMatrix&) = delete;
  ~DeviceMatrix();

  // Allocates the three arrays on the current device (throws OUT_OF_MEMORY / CUDA_ERROR).
  void allocate(uint64_t n_values, uint64_t n_bitmaps, uint64_t n_offsets);
};

}  // namespace spinfer::cuda
