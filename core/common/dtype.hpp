// Element types and exact fp16 / bf16 <-> fp32 conversions on the host.
#pragma once

#include <cstdint>
#include <cstring>

#include "spinfer.h"

namespace spinfer {

enum class DType : int { f32 = SPINFER_DTYPE_F32, f16 = SPINFER_DTYPE_F16, bf16 = SPINFER_DTYPE_BF16 };

inline bool is_valid(DType t) { return t == DType::f32 || t == DType::f16 || t == DType::bf16; }
inline bool is_storage_dtype(DType t) { return t == DType::f16 || t == DType::bf16; }
inline std::size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 2; }
const char* dtype_name(DType t);  // "F32", "F16", "BF16" (safetensors spelling)

inline float bits_to_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t float_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

// IEEE binary16 -> binary32, exact.
float half_to_float(uint16_t h);
// binary32 -> binary16, round to nearest even; overflow to Inf; NaN stays NaN.
uint16_t float_to_half(float f);

inline float bf16_to_float(uint16_t b) { return bits_to_float(uint32_t(b) << 16); }
// binary32 -> bfloat16, round to nearest even; NaN stays NaN.
inline uint16_t float_to_bf16(float f) {
  uint32_t u = float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

// 16-bit storage element of dtype `t` -> float.
inline float storage_to_float(uint16_t v, DType t) {
  return t == DType::f16 ? half_to_float(v) : bf16_to_float(v);
}
inline uint16_t float_to_storage(float f, DType t) {
  return t == DType::f16 ? float_to_half(f) : float_to_bf16(f);
}
// A storage element is zero when all bits but the sign are clear.
inline bool storage_is_zero(uint16_t v) { return (v & 0x7fffu) == 0; }

// Reads element i of an array of dtype `t` as float.
inline float load_as_float(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::f32: return static_cast<const float*>(p)[i];
    case DType::f16: return half_to_float(static_cast<const uint16_t*>(p)[i]);
    default: return bf16_to_float(static_cast<const uint16_t*>(p)[i]);
  }
}
// Writes float `f` rounded to dtype `t` as element i.
inline void store_from_float(void* p, DType t, int64_t i, float f) {
  switch (t) {
    case DType::f32: static_cast<float*>(p)[i] = f; break;
    case DType::f16: static_cast<uint16_t*>(p)[i] = float_to_half(f); break;
    default: static_cast<uint16_t*>(p)[i] = float_to_bf16(f); break;
  }
}

}  // namespace spinfer
