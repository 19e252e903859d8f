// The CUDA backend of a build without CUDA: every entry says so.
#include "common/error.hpp"
#include "cuda/cuda_backend.hpp"

namespace spinfer::cuda {
namespace {
[[noreturn]] void unavailable() {
  throw Error(SPINFER_STATUS_NOT_SUPPORTED, "this libspinfer was built without CUDA");
}
}  // namespace

// The types are never completed in this build, so no object of them can exist.
void DeviceContextDeleter::operator()(DeviceContext*) const {}
void DeviceMatrixDeleter::operator()(DeviceMatrix*) const {}

bool built_with_cuda() { return false; }
bool device_available(int) { return false; }
DeviceContextPtr create_context(int) { unavailable(); }
DeviceMatrixPtr upload(DeviceContext&, const HostMatrix&, void*) { unavailable(); }
DeviceMatrixPtr encode_device(DeviceContext&, const void*, DType, int64_t, int64_t, int64_t, DType,
                              void*) {
  unavailable();
}
HostMatrix download(DeviceContext&, const DeviceMatrix&, void*) { unavailable(); }
DeviceMatrixSummary summary(const DeviceMatrix&) { unavailable(); }
void spmm(DeviceContext&, const DeviceMatrix&, const void*, int64_t, int64_t, const void*, void*,
          int64_t, DType, const SpmmOptions&, void*) {
  unavailable();
}

}  // namespace spinfer::cuda
