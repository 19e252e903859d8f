// The dense path (dense_gemm.hpp): the context's cuBLAS handle and scratch pool, the
// bias broadcast, and the slab loop decode -> GEMM.
#include "cuda/dense_gemm.hpp"

#include <mutex>
#include <string>

#include "common/fault_injection.hpp"
#include "cuda/cublas_runtime.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/device_context.hpp"
#include "cuda/device_matrix.hpp"

namespace spinfer::cuda {

struct DenseGemm {
  int device = 0;
  const CublasApi* blas = nullptr;  // loaded at run time (cublas_runtime.hpp)
  cublasHandle_t handle = nullptr;
  cudaMemPool_t pool = nullptr;
  uint64_t cublas_workspace = kCublasWorkspaceOther;
  uint64_t slab_budget = kDenseSlabBudget;
  std::string why;   // empty when ready
  std::mutex mutex;  // the handle's stream and workspace are per call
};

void DenseGemmDeleter::operator()(DenseGemm* d) const {
  if (!d) return;
  // The owning context has synchronised its device: nothing queued still uses them.
  if (d->handle) d->blas->destroy(d->handle);
  if (d->pool) cudaMemPoolDestroy(d->pool);
  delete d;
}

namespace {

// cuBLAS status -> spinfer::Error (allocation failures as OUT_OF_MEMORY).
void check_cublas(const CublasApi& blas, cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  const spinfer_status_t status =
      st == CUBLAS_STATUS_ALLOC_FAILED ? SPINFER_STATUS_OUT_OF_MEMORY : SPINFER_STATUS_CUDA_ERROR;
  throw Error(status, std::string(what) + " failed: " + blas.status_name(st) + ": " +
                          blas.status_string(st));
}

// Y[t, i] = bias[i] for t < n, i < m: the GEMMs then accumulate onto it (beta = 1), so
// the bias is added in fp32 before the one rounding, as the SMBD epilogue does.
// Blocks stride over tokens (y) and columns (x); consecutive threads store consecutive
// elements of a row.
__global__ void fill_bias_kernel(const uint16_t* bias, uint16_t* y, int64_t n, int64_t m, int64_t ldy) {
  for (int64_t t = blockIdx.y; t < n; t += gridDim.y)
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < m;
         i += int64_t(gridDim.x) * blockDim.x)
      y[t * ldy + i] = bias[i];
}

cudaError_t launch_fill_bias(const void* bias, void* y, int64_t n, int64_t m, int64_t ldy, cudaStream_t s) {
  const dim3 grid(unsigned(std::min<int64_t>((m + 255) / 256, 32)), unsigned(std::min<int64_t>(n, 2048)));
  fill_bias_kernel<<<grid, 256, 0, s>>>(static_cast<const uint16_t*>(bias), static_cast<uint16_t*>(y), n,
                                        m, ldy);
  return cudaGetLastError();
}

// Frees the scratch on the call's stream however the call leaves (stream-ordered: after
// everything the call queued).
struct ScratchGuard {
  void* p = nullptr;
  cudaStream_t s = nullptr;
  ~ScratchGuard() {
    if (p) cudaFreeAsync(p, s);
  }
};

}  // namespace

DenseGemm* create_dense_gemm(int device, int compute_major) {
  auto* d = new DenseGemm;
  d->device = device;
  d->cublas_workspace = compute_major >= 9 ? kCublasWorkspaceHopper : kCublasWorkspaceOther;
  int l2 = 0;
  if (cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device) != cudaSuccess) cudaGetLastError();
  d->slab_budget = dense_slab_budget_for_l2(l2);
  int pools = 0;
  if (cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device) != cudaSuccess || !pools) {
    cudaGetLastError();
    d->why = "the device does not support stream-ordered memory pools";
    return d;
  }
  cudaMemPoolProps props{};
  props.allocType = cudaMemAllocationTypePinned;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = device;
  cudaError_t err = cudaMemPoolCreate(&d->pool, &props);
  if (err == cudaSuccess) {
    // Keep one call's scratch mapped between calls (trimmed only above it).
    uint64_t keep = d->cublas_workspace + kDenseSlabBudget + (uint64_t(1) << 20);
    err = cudaMemPoolSetAttribute(d->pool, cudaMemPoolAttrReleaseThreshold, &keep);
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    d->why = std::string("creating the scratch memory pool failed: ") + cudaGetErrorString(err);
    return d;
  }
  const char* missing = nullptr;
  d->blas = cublas_api(&missing);
  if (!d->blas) {
    d->why = missing;
    return d;
  }
  const cublasStatus_t st = d->blas->create(&d->handle);
  if (st != CUBLAS_STATUS_SUCCESS) {
    d->handle = nullptr;
    d->why = std::string("cublasCreate failed: ") + d->blas->status_string(st);
  }
  return d;
}

bool dense_gemm_ready(const DenseGemm& d) { return d.why.empty(); }
const char* dense_gemm_why(const DenseGemm& d) { return d.why.c_str(); }

DenseSlabPlan dense_slab_plan(const DenseGemm& d, int64_t rows, int64_t cols) {
  return plan_dense_slabs(rows, cols, d.slab_budget, d.cublas_workspace);
}

void set_dense_slab_budget(DenseGemm& d, uint64_t bytes) { d.slab_budget = bytes; }
uint64_t dense_slab_budget(const DenseGemm& d) { return d.slab_budget; }

void dense_spmm(DeviceContext& ctx, const DeviceMatrix& w, const void* x, int64_t n, int64_t ldx,
                const void* bias, void* y, int64_t ldy, DType dtype, cudaStream_t stream) {
  DenseGemm& d = ctx.dense_gemm();
  require(dense_gemm_ready(d), SPINFER_STATUS_NOT_SUPPORTED,
          [&] { return std::string("the dense SpMM path is unavailable: ") + d.why; });
  const DenseSlabPlan plan = dense_slab_plan(d, w.rows, w.cols);

  const size_t bytes = size_t(plan.scratch_bytes());
  ScratchGuard scratch{nullptr, stream};
  const cudaError_t alloc = SPINFER_FAULT_OR(device_alloc, cudaErrorMemoryAllocation,
                                             cudaMallocFromPoolAsync(&scratch.p, bytes, d.pool, stream));
  if (alloc != cudaSuccess) {
    scratch.p = nullptr;
    cudaGetLastError();
    require(alloc != cudaErrorMemoryAllocation, SPINFER_STATUS_OUT_OF_MEMORY, [&] {
      return "the dense SpMM path needs " + std::to_string(bytes) +
             " bytes of device scratch (decoded slab " + std::to_string(plan.slab_bytes) +
             " + cuBLAS workspace " + std::to_string(plan.workspace_bytes) + "); out of memory";
    });
    check_cuda(alloc, "cudaMallocFromPoolAsync(dense SpMM scratch)");
  }
  const uintptr_t base = (reinterpret_cast<uintptr_t>(scratch.p) + 255) & ~uintptr_t(255);
  auto* workspace = reinterpret_cast<unsigned char*>(base);
  auto* slab = reinterpret_cast<uint16_t*>(workspace + plan.workspace_bytes);

  if (bias) check_cuda(launch_fill_bias(bias, y, n, w.rows, ldy, stream), "launching the bias fill");
  const float alpha = 1.0f, beta = bias ? 1.0f : 0.0f;
  const cudaDataType_t type = dtype == DType::bf16 ? CUDA_R_16BF : CUDA_R_16F;

  std::lock_guard<std::mutex> lock(d.mutex);
  // cublasSetStream resets the workspace to cuBLAS's own: set ours after it, every call.
  const CublasApi& blas = *d.blas;
  check_cublas(blas, blas.set_stream(d.handle, stream), "cublasSetStream");
  check_cublas(blas, blas.set_workspace(d.handle, workspace, size_t(plan.workspace_bytes)),
               "cublasSetWorkspace");
  const int64_t group_rows = (w.rows + 63) / 64;
  for (int64_t g0 = 0; g0 < group_rows; g0 += plan.group_rows_per_slab) {
    const int64_t groups = std::min(plan.group_rows_per_slab, group_rows - g0);
    const int64_t row0 = g0 * 64, m = std::min<int64_t>(groups * 64, w.rows - row0);
    check_cuda(launch_decode_dense(w, g0, groups, slab, plan.ld, stream), "launching the dense decode");
    // Row-major Y[:, row0 .. row0 + m) = X * S^T is, column-major, Y^T = S * X^T:
    // S (row-major [m, K], ld) is column-major [K, m], so op T; X^T is X read
    // column-major [K, n] with ldx, op N; Y^T is column-major [m, n] with ldy.
    check_cublas(blas,
                 blas.gemm_ex(d.handle, CUBLAS_OP_T, CUBLAS_OP_N, m, n, w.cols, &alpha, slab, type,
                              plan.ld, x, type, ldx, &beta, static_cast<uint16_t*>(y) + row0, type,
                              ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx (dense SpMM path)");
  }
}

}  // namespace spinfer::cuda
