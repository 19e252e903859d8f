#pragma once
#include <cstdint>

#include <cuda_runtime.h>

// Fills `count` 16-bit elements: zero with probability `sparsity`, else random non-zero.
void bench_fill_random(uint16_t* out, int64_t count, double sparsity, uint64_t seed, bool bf16,
                       cudaStream_t stream);

// Device-to-device copy with 16-byte accesses (the copy-bandwidth reference).
void bench_copy(void* dst, const void* src, size_t bytes, cudaStream_t stream);
