#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "tool_device.hpp"

namespace spinfer_tool {
namespace {

void cuda_check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  std::fprintf(stderr, "spinfer: %s: %s\n", what, cudaGetErrorString(e));
  std::exit(1);
}
void api_check(spinfer_status_t s, const char* what) {
  if (s == SPINFER_STATUS_SUCCESS) return;
  std::fprintf(stderr, "spinfer: %s: %s\n", what, spinfer_last_error_message());
  std::exit(1);
}
uint16_t to_bits(float v, spinfer_dtype_t dt) {
  if (dt == SPINFER_DTYPE_BF16) return __bfloat16_as_ushort(__float2bfloat16(v));
  return __half_as_ushort(__float2half(v));
}
float from_bits(uint16_t b, spinfer_dtype_t dt) {
  if (dt == SPINFER_DTYPE_BF16) return __bfloat162float(__ushort_as_bfloat16(b));
  return __half2float(__ushort_as_half(b));
}

}  // namespace

float round_to(float x, spinfer_dtype_t dt) { return from_bits(to_bits(x, dt), dt); }

double run_on_device(spinfer_context_t* ctx, const spinfer_matrix_t* w, const std::vector<float>& x,
                     int64_t n, int64_t rows, int64_t cols, spinfer_dtype_t dtype,
                     std::vector<float>& y, int iters) {
  spinfer_matrix_info_t info{};
  info.struct_size = sizeof info;
  api_check(spinfer_matrix_get_info(w, &info), "matrix info");
  const bool on_device = info.location == SPINFER_LOCATION_DEVICE;
  spinfer_matrix_t* uploaded = nullptr;
  if (!on_device) api_check(spinfer_matrix_upload(ctx, w, &uploaded, nullptr), "upload");
  const spinfer_matrix_t* dw = on_device ? w : uploaded;
  std::vector<uint16_t> hx(x.size()), hy(size_t(n * rows));
  for (size_t i = 0; i < x.size(); ++i) hx[i] = to_bits(x[i], dtype);
  void *dx = nullptr, *dy = nullptr;
  cuda_check(cudaMalloc(&dx, hx.size() * 2), "cudaMalloc x");
  cuda_check(cudaMalloc(&dy, hy.size() * 2), "cudaMalloc y");
  cuda_check(cudaMemcpy(dx, hx.data(), hx.size() * 2, cudaMemcpyHostToDevice), "copy x");
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  api_check(spinfer_spmm(ctx, dw, dx, n, cols, nullptr, dy, rows, dtype, nullptr), "spmm");
  std::vector<float> times;
  for (int r = 0; r < std::max(iters, 1); ++r) {
    cudaEventRecord(start);
    api_check(spinfer_spmm(ctx, dw, dx, n, cols, nullptr, dy, rows, dtype, nullptr), "spmm");
    cudaEventRecord(stop);
    cuda_check(cudaEventSynchronize(stop), "spmm run");
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  cuda_check(cudaMemcpy(hy.data(), dy, hy.size() * 2, cudaMemcpyDeviceToHost), "copy y");
  y.resize(hy.size());
  for (size_t i = 0; i < hy.size(); ++i) y[i] = from_bits(hy[i], dtype);
  cudaFree(dx);
  cudaFree(dy);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  spinfer_matrix_destroy(uploaded);  // NULL when w was already on the device
  return times[times.size() / 2];
}

}  // namespace spinfer_tool
