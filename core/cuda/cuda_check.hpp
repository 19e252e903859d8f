// Internal helpers of the CUDA backend: CUDA errors -> spinfer::Error, and a guard that
// makes a device current for a scope. Included only by the backend's own sources.
#pragma once

#include <string>

#include <cuda_runtime.h>

#include "common/error.hpp"

namespace spinfer::cuda {

// Throws Error(CUDA_ERROR, or OUT_OF_MEMORY for allocation failures) naming `what`.
inline void check_cuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  const spinfer_status_t status =
      err == cudaErrorMemoryAllocation ? SPINFER_STATUS_OUT_OF_MEMORY : SPINFER_STATUS_CUDA_ERROR;
  throw Error(status, std::string(what) + " failed: " + cudaGetErrorName(err) + ": " +
                          cudaGetErrorString(err));
}

// Makes `device` current for the lifetime of the guard and restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check_cuda(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) check_cuda(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() {
    int now = -1;
    if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

inline cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

// Throws WRONG_LOCATION unless a matrix that lives on `device` belongs to the context's.
inline void require_context_device(int device, int context_device) {
  require(device == context_device, SPINFER_STATUS_WRONG_LOCATION, [&] {
    return "matrix lives on device " + std::to_string(device) + " but the context uses device " +
           std::to_string(context_device);
  });
}

}  // namespace spinfer::cuda
