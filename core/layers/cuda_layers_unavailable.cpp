// The CUDA layer backend of a build without CUDA.
#include "common/error.hpp"
#include "layers/backend.hpp"

namespace spinfer::layers {

std::unique_ptr<Backend> make_cuda_backend(cuda::DeviceContext&, DType) {
  throw Error(SPINFER_STATUS_NOT_SUPPORTED, "CUDA layers: spinfer was built without CUDA");
}

}  // namespace spinfer::layers
