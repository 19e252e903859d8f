// Definitions of the opaque C handles. Only capi/src sees these.
#pragma once

#include <variant>

#include "cuda/cuda_backend.hpp"
#include "format/tca_bme.hpp"
#include "spinfer.h"

struct spinfer_context {
  spinfer_backend_t backend = SPINFER_BACKEND_HOST;  // resolved: HOST or CUDA
  int device = -1;
  int host_threads = 0;                    // 0 = hardware concurrency
  spinfer::cuda::DeviceContextPtr cuda;    // set when backend == CUDA
};

struct spinfer_matrix {
  // A host matrix or a device matrix; immutable once made.
  std::variant<spinfer::HostMatrix, spinfer::cuda::DeviceMatrixPtr> storage;

  const spinfer::HostMatrix* host() const { return std::get_if<spinfer::HostMatrix>(&storage); }
  const spinfer::cuda::DeviceMatrix* device() const {
    auto* p = std::get_if<spinfer::cuda::DeviceMatrixPtr>(&storage);
    return p ? p->get() : nullptr;
  }
};

namespace spinfer::capi {
// The host matrix behind handle `m`; throws INVALID_ARGUMENT for NULL and
// WRONG_LOCATION for a device matrix. `what` names the argument in the message.
const HostMatrix& require_host_matrix(const spinfer_matrix_t* m, const char* what);
}  // namespace spinfer::capi
