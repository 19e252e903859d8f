// Host (CPU) backend of Y = X * W^T (+ bias), computed from the TCA-BME arrays
// directly: it walks the bitmaps, never materialises a dense W.
#pragma once

#include <cstdint>

#include "format/tca_bme.hpp"

namespace spinfer::host {

// Validates shapes and pointers, then computes with fp32 accumulation on `threads`
// threads (0 = all). x is [n, cols] (ldx), y is [n, rows] (ldy), bias is [rows] or
// NULL, all of dtype `dtype` (F32, F16 or BF16).
void spmm(const HostMatrix& w, const void* x, int64_t n, int64_t ldx, const void* bias, void* y,
          int64_t ldy, DType dtype, int threads);

}  // namespace spinfer::host
