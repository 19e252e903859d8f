// cuBLAS, loaded at run time (dlopen) by the first context that wants the dense path, so
// that libspinfer itself needs only the CUDA driver (the runtime is linked statically):
// a machine without the CUDA libraries still runs everything but that path.
// The header gives the types; the functions come from the library found.
#pragma once

#include <cublas_v2.h>

namespace spinfer::cuda {

struct CublasApi {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetWorkspace_v2) set_workspace = nullptr;
  decltype(&cublasGemmEx_64) gemm_ex = nullptr;
  decltype(&cublasGetStatusName) status_name = nullptr;
  decltype(&cublasGetStatusString) status_string = nullptr;
};

// The loaded API (every pointer set), or nullptr with `why` saying what was missing.
// Loads once per process; thread-safe.
const CublasApi* cublas_api(const char** why);

}  // namespace spinfer::cuda
