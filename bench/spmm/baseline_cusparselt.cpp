// cuSPARSELt 2:4 baseline (compiled only when the library is found).
#include <cusparseLt.h>

#include <string>
#include <vector>

#include "baselines.hpp"

struct CusparseLt::Impl {
  cusparseLtHandle_t handle;
  cusparseLtMatDescriptor_t a, b, c;
  cusparseLtMatmulDescriptor_t matmul;
  cusparseLtMatmulAlgSelection_t selection;
  cusparseLtMatmulPlan_t plan;
  bool have_handle = false, have_plan = false, have_a = false, have_b = false, have_c = false;
  std::vector<void*> compressed;
  void* workspace = nullptr;
  size_t compressed_size = 0;
  cudaStream_t stream = nullptr;
  std::string error;
};

bool CusparseLt::available() { return true; }

#define LT_TRY(call)                                                    \
  do {                                                                  \
    cusparseStatus_t st_ = (call);                                      \
    if (st_ != CUSPARSE_STATUS_SUCCESS) {                               \
      s.error = std::string(#call) + " -> " + std::to_string(int(st_)); \
      return;                                                           \
    }                                                                   \
  } while (0)

CusparseLt::CusparseLt(const void* dense_w, int64_t m, int64_t k, int64_t n, bool bf16,
                       int instances, cudaStream_t stream)
    : impl_(new Impl) {
  auto& s = *impl_;
  s.stream = stream;
  const cudaDataType_t t = bf16 ? CUDA_R_16BF : CUDA_R_16F;
  LT_TRY(cusparseLtInit(&s.handle));
  s.have_handle = true;
  // Column-major TN product: D'[m, n] = A^T * B with A = W' [k, m] (W row-major), B = X' [k, n].
  LT_TRY(cusparseLtStructuredDescriptorInit(&s.handle, &s.a, k, m, k, 16, t, CUSPARSE_ORDER_COL,
                                            CUSPARSELT_SPARSITY_50_PERCENT));
  s.have_a = true;
  LT_TRY(cusparseLtDenseDescriptorInit(&s.handle, &s.b, k, n, k, 16, t, CUSPARSE_ORDER_COL));
  s.have_b = true;
  LT_TRY(cusparseLtDenseDescriptorInit(&s.handle, &s.c, m, n, m, 16, t, CUSPARSE_ORDER_COL));
  s.have_c = true;
  LT_TRY(cusparseLtMatmulDescriptorInit(&s.handle, &s.matmul, CUSPARSE_OPERATION_TRANSPOSE,
                                        CUSPARSE_OPERATION_NON_TRANSPOSE, &s.a, &s.b, &s.c, &s.c,
                                        CUSPARSE_COMPUTE_32F));
  LT_TRY(cusparseLtMatmulAlgSelectionInit(&s.handle, &s.selection, &s.matmul,
                                          CUSPARSELT_MATMUL_ALG_DEFAULT));
  LT_TRY(cusparseLtMatmulPlanInit(&s.handle, &s.plan, &s.matmul, &s.selection));
  s.have_plan = true;
  void* pruned = nullptr;
  if (cudaMalloc(&pruned, size_t(m) * k * 2) != cudaSuccess) {
    s.error = "cudaMalloc(pruned)";
    return;
  }
  LT_TRY(cusparseLtSpMMAPrune(&s.handle, &s.matmul, dense_w, pruned, CUSPARSELT_PRUNE_SPMMA_TILE,
                              stream));
  size_t buffer_size = 0;
  LT_TRY(cusparseLtSpMMACompressedSize(&s.handle, &s.plan, &s.compressed_size, &buffer_size));
  void* buffer = nullptr;
  cudaMalloc(&buffer, buffer_size ? buffer_size : 16);
  for (int i = 0; i < instances; ++i) {
    void* c = nullptr;
    if (cudaMalloc(&c, s.compressed_size) != cudaSuccess) {
      s.error = "cudaMalloc(compressed)";
      return;
    }
    s.compressed.push_back(c);
    LT_TRY(cusparseLtSpMMACompress(&s.handle, &s.plan, pruned, c, buffer, stream));
  }
  cudaStreamSynchronize(stream);
  cudaFree(buffer);
  cudaFree(pruned);
  size_t ws = 0;
  LT_TRY(cusparseLtMatmulGetWorkspace(&s.handle, &s.plan, &ws));
  cudaMalloc(&s.workspace, ws ? ws : 16);
  // Search the best algorithm on real buffers, then rebuild nothing: the plan keeps it.
  void *x = nullptr, *y = nullptr;
  cudaMalloc(&x, size_t(n) * k * 2);
  cudaMalloc(&y, size_t(n) * m * 2);
  cudaMemset(x, 0x3c, size_t(n) * k * 2);  // 1.0-ish, not zeros
  const float alpha = 1.f, beta = 0.f;
  cudaStream_t streams[1] = {stream};
  const cusparseStatus_t st = cusparseLtMatmulSearch(&s.handle, &s.plan, &alpha, s.compressed[0], x,
                                                     &beta, y, y, s.workspace, streams, 1);
  cudaStreamSynchronize(stream);
  cudaFree(x);
  cudaFree(y);
  if (st != CUSPARSE_STATUS_SUCCESS) {
    s.error = "cusparseLtMatmulSearch -> " + std::to_string(int(st));
    return;
  }
  // The search may change the workspace the plan needs.
  LT_TRY(cusparseLtMatmulGetWorkspace(&s.handle, &s.plan, &ws));
  cudaFree(s.workspace);
  cudaMalloc(&s.workspace, ws ? ws : 16);
}

CusparseLt::~CusparseLt() {
  auto& s = *impl_;
  for (void* c : s.compressed) cudaFree(c);
  cudaFree(s.workspace);
  if (s.have_plan) cusparseLtMatmulPlanDestroy(&s.plan);
  if (s.have_a) cusparseLtMatDescriptorDestroy(&s.a);
  if (s.have_b) cusparseLtMatDescriptorDestroy(&s.b);
  if (s.have_c) cusparseLtMatDescriptorDestroy(&s.c);
  if (s.have_handle) cusparseLtDestroy(&s.handle);
}

bool CusparseLt::ok() const { return impl_->error.empty(); }
std::string CusparseLt::error() const { return impl_->error; }
size_t CusparseLt::bytes() const { return impl_->compressed_size; }

void CusparseLt::run(int instance, const void* x, void* y) {
  auto& s = *impl_;
  const float alpha = 1.f, beta = 0.f;
  cudaStream_t streams[1] = {s.stream};
  cusparseLtMatmul(&s.handle, &s.plan, &alpha, s.compressed[size_t(instance)], x, &beta, y, y,
                   s.workspace, streams, 1);
}
