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

// Threads spmm uses for n tokens with at most `threads` (0 = all cores): fewer for
// small products, where waking workers costs more than it saves.
int spmm_threads(const HostMatrix& w, int64_t n, int threads);

// The SIMD kernels spmm uses for 1 and 8 tokens, chosen at run time from the CPU: 2 =
// AVX-512 (one token) and AVX2, 1 = AVX2 + FMA + F16C, 0 = the portable loop only.
// set_simd_limit caps the level (default 2), so tests can check every path on one CPU.
int simd_level();
void set_simd_limit(int level);

}  // namespace spinfer::host
