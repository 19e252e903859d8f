// Thin wrappers over the sm_90a warpgroup MMA (wgmma) the SMBD kernels use: operand A
// from registers (where the register decode leaves it; its fragment is mma.m16n8k16's,
// warp w of the warpgroup holding rows 16w .. 16w+15), operand B from shared memory
// through a matrix descriptor, fp32 accumulators laid out as N/8 m16n8 C fragments per
// warp (PTX ISA, "Asynchronous Warpgroup Level Matrix Multiply-Accumulate"). Compiled for
// sm_90a only (SPINFER_WGMMA); no logic lives here.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SPINFER_WGMMA 1
#else
#define SPINFER_WGMMA 0
#endif

namespace spinfer::cuda::ptx {

#if SPINFER_WGMMA
// Descriptor of a K-major operand in the 128-byte swizzle: rows of 128 bytes (64 k of
// 16-bit values), 16-byte chunk c of row r stored at chunk c ^ (r % 8), the tile 1024-byte
// aligned. `smem_addr`: the tile plus 32 bytes per k-step of 16 (the hardware applies the
// swizzle to the address). Stride between 8-row groups (SBO) 1024 bytes; the leading
// offset is unused in this mode (1 by convention).
__device__ __forceinline__ uint64_t wgmma_desc_sw128(uint32_t smem_addr) {
  return uint64_t((smem_addr & 0x3FFFFu) >> 4) | (uint64_t(1) << 16) | (uint64_t(1024 >> 4) << 32) |
         (uint64_t(1) << 62);
}

// Orders this thread's register and generic shared-memory writes before the wgmma that
// read them (the A fragments, the accumulators, X stored by cp.async or st.shared).
__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void fence_proxy_async_shared() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// After wgmma_wait: ties later reads of `v` to the wait, so the compiler cannot read an
// accumulator before the wgmma writing it has completed.
__device__ __forceinline__ void wgmma_fence_operand(float& v) {
  asm volatile("" : "+f"(v)::"memory");
}

// d += A * B for a 64 x N x 16 step: a, this thread's A fragment; b_desc, B (K x N) in
// shared memory.
template <typename T, int N>
__device__ __forceinline__ void wgmma_rs(float (&d)[N / 8][4], const uint32_t (&a)[4],
                                         uint64_t b_desc);

// One specialisation per N (accumulator count N / 2), for f16 and bf16 alike.
#define SPINFER_WGMMA_RS_N8(T, PTX_T)                                                              \
  template <>                                                                                      \
  __device__ __forceinline__ void wgmma_rs<T, 8>(float (&d)[1][4], const uint32_t (&a)[4],         \
                                                uint64_t b_desc) {                                 \
    asm volatile(                                                                                  \
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                                 \
        "wgmma.mma_async.sync.aligned.m64n8k16.f32." PTX_T "." PTX_T " "                           \
        "{%0, %1, %2, %3}, "                                                                       \
        "{%4, %5, %6, %7}, %8, p, 1, 1, 0;\n}\n"                                                   \
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3])                               \
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc));                                \
  }
SPINFER_WGMMA_RS_N8(__half, "f16")
SPINFER_WGMMA_RS_N8(__nv_bfloat16, "bf16")
#undef SPINFER_WGMMA_RS_N8

#define SPINFER_WGMMA_RS_N16(T, PTX_T)                                                             \
  template <>                                                                                      \
  __device__ __forceinline__ void wgmma_rs<T, 16>(float (&d)[2][4], const uint32_t (&a)[4],        \
                                                uint64_t b_desc) {                                 \
    asm volatile(                                                                                  \
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                                 \
        "wgmma.mma_async.sync.aligned.m64n16k16.f32." PTX_T "." PTX_T " "                          \
        "{%0, %1, %2, %3, %4, %5, %6, %7}, "                                                       \
        "{%8, %9, %10, %11}, %12, p, 1, 1, 0;\n}\n"                                                \
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),                              \
          "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3])                               \
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc));                                \
  }
SPINFER_WGMMA_RS_N16(__half, "f16")
SPINFER_WGMMA_RS_N16(__nv_bfloat16, "bf16")
#undef SPINFER_WGMMA_RS_N16

#define SPINFER_WGMMA_RS_N32(T, PTX_T)                                                             \
  template <>                                                                                      \
  __device__ __forceinline__ void wgmma_rs<T, 32>(float (&d)[4][4], const uint32_t (&a)[4],        \
                                                uint64_t b_desc) {                                 \
    asm volatile(                                                                                  \
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                                 \
        "wgmma.mma_async.sync.aligned.m64n32k16.f32." PTX_T "." PTX_T " "                          \
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, "                 \
        "{%16, %17, %18, %19}, %20, p, 1, 1, 0;\n}\n"                                              \
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),                              \
          "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),                              \
          "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),                              \
          "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3])                               \
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc));                                \
  }
SPINFER_WGMMA_RS_N32(__half, "f16")
SPINFER_WGMMA_RS_N32(__nv_bfloat16, "bf16")
#undef SPINFER_WGMMA_RS_N32

#define SPINFER_WGMMA_RS_N64(T, PTX_T)                                                             \
  template <>                                                                                      \
  __device__ __forceinline__ void wgmma_rs<T, 64>(float (&d)[8][4], const uint32_t (&a)[4],        \
                                                uint64_t b_desc) {                                 \
    asm volatile(                                                                                  \
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                                 \
        "wgmma.mma_async.sync.aligned.m64n64k16.f32." PTX_T "." PTX_T " "                          \
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                  \
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "        \
        "{%32, %33, %34, %35}, %36, p, 1, 1, 0;\n}\n"                                              \
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),                              \
          "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),                              \
          "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),                              \
          "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),                              \
          "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),                              \
          "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),                              \
          "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),                              \
          "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])                               \
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc));                                \
  }
SPINFER_WGMMA_RS_N64(__half, "f16")
SPINFER_WGMMA_RS_N64(__nv_bfloat16, "bf16")
#undef SPINFER_WGMMA_RS_N64

// The wide token tiles (128 and 256 tokens, the prefill kernels): 64 and 128 accumulators
// per thread, still N/8 m16n8 C fragments; their operand lists are spelled out by group.
#define SPINFER_WGMMA_D4(i) "+f"(d[i][0]), "+f"(d[i][1]), "+f"(d[i][2]), "+f"(d[i][3])
#define SPINFER_WGMMA_RS_N128(T, PTX_T)                                                            \
  template <>                                                                                      \
  __device__ __forceinline__ void wgmma_rs<T, 128>(float (&d)[16][4], const uint32_t (&a)[4],      \
                                                 uint64_t b_desc) {                                \
    asm volatile(                                                                                  \
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                                 \
        "wgmma.mma_async.sync.aligned.m64n128k16.f32." PTX_T "." PTX_T " "                         \
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                  \
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "         \
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "         \
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "        \
        "{%64, %65, %66, %67}, %68, p, 1, 1, 0;\n}\n"                                              \
        : SPINFER_WGMMA_D4(0), SPINFER_WGMMA_D4(1), SPINFER_WGMMA_D4(2), SPINFER_WGMMA_D4(3),      \
          SPINFER_WGMMA_D4(4), SPINFER_WGMMA_D4(5), SPINFER_WGMMA_D4(6), SPINFER_WGMMA_D4(7),      \
          SPINFER_WGMMA_D4(8), SPINFER_WGMMA_D4(9), SPINFER_WGMMA_D4(10), SPINFER_WGMMA_D4(11),    \
          SPINFER_WGMMA_D4(12), SPINFER_WGMMA_D4(13), SPINFER_WGMMA_D4(14), SPINFER_WGMMA_D4(15)   \
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc));                                \
  }
SPINFER_WGMMA_RS_N128(__half, "f16")
SPINFER_WGMMA_RS_N128(__nv_bfloat16, "bf16")
#undef SPINFER_WGMMA_RS_N128

#define SPINFER_WGMMA_RS_N256(T, PTX_T)                                                            \
  template <>                                                                                      \
  __device__ __forceinline__ void wgmma_rs<T, 256>(float (&d)[32][4], const uint32_t (&a)[4],      \
                                                 uint64_t b_desc) {                                \
    asm volatile(                                                                                  \
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                                 \
        "wgmma.mma_async.sync.aligned.m64n256k16.f32." PTX_T "." PTX_T " "                         \
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                  \
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "         \
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "         \
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "         \
        "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "         \
        "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "         \
        "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "\
        "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, "\
        "{%128, %129, %130, %131}, %132, p, 1, 1, 0;\n}\n"                                         \
        : SPINFER_WGMMA_D4(0), SPINFER_WGMMA_D4(1), SPINFER_WGMMA_D4(2), SPINFER_WGMMA_D4(3),      \
          SPINFER_WGMMA_D4(4), SPINFER_WGMMA_D4(5), SPINFER_WGMMA_D4(6), SPINFER_WGMMA_D4(7),      \
          SPINFER_WGMMA_D4(8), SPINFER_WGMMA_D4(9), SPINFER_WGMMA_D4(10), SPINFER_WGMMA_D4(11),    \
          SPINFER_WGMMA_D4(12), SPINFER_WGMMA_D4(13), SPINFER_WGMMA_D4(14), SPINFER_WGMMA_D4(15),  \
          SPINFER_WGMMA_D4(16), SPINFER_WGMMA_D4(17), SPINFER_WGMMA_D4(18), SPINFER_WGMMA_D4(19),  \
          SPINFER_WGMMA_D4(20), SPINFER_WGMMA_D4(21), SPINFER_WGMMA_D4(22), SPINFER_WGMMA_D4(23),  \
          SPINFER_WGMMA_D4(24), SPINFER_WGMMA_D4(25), SPINFER_WGMMA_D4(26), SPINFER_WGMMA_D4(27),  \
          SPINFER_WGMMA_D4(28), SPINFER_WGMMA_D4(29), SPINFER_WGMMA_D4(30), SPINFER_WGMMA_D4(31)   \
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc));                                \
  }
SPINFER_WGMMA_RS_N256(__half, "f16")
SPINFER_WGMMA_RS_N256(__nv_bfloat16, "bf16")
#undef SPINFER_WGMMA_RS_N256
#undef SPINFER_WGMMA_D4

#endif  // SPINFER_WGMMA

}  // namespace spinfer::cuda::ptx
