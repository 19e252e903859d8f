// The time-to-first-token sweep of bench_layers on the GPU: for dense and each sparsity of
// the plan, a whole 7B-shaped model is built, every cell timed, and the model freed.
#pragma once

#include <cuda_runtime.h>

#include "cuda/cuda_backend.hpp"
#include "dense_gemm.hpp"
#include "ttft_report.hpp"

namespace bench {

// Prints progress lines to stdout as modes finish; a mode or cell that fails is NaN in
// the results, with its error in r.errors (a failed dense mode stops the sweep: the
// ratios would mean nothing).
TtftResults run_ttft_sweep(spinfer::cuda::DeviceContext& ctx, CublasGemm& gemm, const TtftPlan& plan,
                           cudaStream_t st);

}  // namespace bench
