// Device helpers of bench_layers (bench_fill.cu).
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

// `count` fp16 values: zero with probability `sparsity`, else uniform non-zero in [-scale, scale].
void bench_fill_half(void* out, int64_t count, double sparsity, float scale, uint64_t seed, cudaStream_t s);
// `count` floats uniform in [lo, hi).
void bench_fill_float(float* out, int64_t count, float lo, float hi, uint64_t seed, cudaStream_t s);
// 16-byte-per-thread device copy (the bandwidth reference of the roofline bounds).
void bench_copy16(void* dst, const void* src, size_t bytes, cudaStream_t s);
