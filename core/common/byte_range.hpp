// Whether two byte ranges share a byte: the aliasing check every entry that reads some
// buffers while it writes another makes (SpMM on both backends, the layer entries).
#pragma once

#include <cstddef>
#include <cstdint>

namespace spinfer {

// [a, a + a_bytes) and [b, b + b_bytes) overlap. Empty ranges overlap nothing.
inline bool bytes_overlap(const void* a, size_t a_bytes, const void* b, size_t b_bytes) {
  const uintptr_t a0 = reinterpret_cast<uintptr_t>(a), b0 = reinterpret_cast<uintptr_t>(b);
  return a_bytes != 0 && b_bytes != 0 && a0 < b0 + b_bytes && b0 < a0 + a_bytes;
}

}  // namespace spinfer
