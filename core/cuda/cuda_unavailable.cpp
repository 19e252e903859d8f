// The CUDA backend of a build without CUDA: every entry throws NOT_SUPPORTED, so the
// C API compiles and behaves the same, only without devices.
#include "common/error.hpp"
#include "cuda/cuda_backend.hpp"

namespace spinfer::cuda {
namespace {

[[noreturn]] void unavailable(const char* what) {
  throw Error(SPINFER_STATUS_NOT_SUPPORTED,
              std::string(what) + ": spinfer was built without CUDA");
}

}  // namespace

// Never constructed in this build; the deleters exist only to satisfy the handle types.
class DeviceContext {};
struct DeviceMatrix {};

void DeviceContextDeleter::operator()(DeviceContext* p) const { delete p; }
void DeviceMatrixDeleter::operator()(DeviceMatrix* p) const { delete p; }

bool built_with_cuda() { return false; }
bool device_available(int) { return false; }
bool is_device_memory(const void*) { return false; }
DeviceContextPtr create_context(int, int, bool) { unavailable("creating a CUDA context"); }
void release_stream(DeviceContext&, void*) { unavailable("release_stream"); }
DeviceMatrixPtr upload(DeviceContext&, const HostMatrix&, void*) { unavailable("upload"); }
DeviceMatrixPtr encode_device(DeviceContext&, const void*, DType, int64_t, int64_t, int64_t, DType,
                              void*) {
  unavailable("GPU encode");
}
HostMatrix download(DeviceContext&, const DeviceMatrix&, void*) { unavailable("download"); }
DeviceMatrixSummary summary(const DeviceMatrix&) { unavailable("device matrix summary"); }
SpmmCallPlan plan_spmm_call(DeviceContext&, const DeviceMatrix&, int64_t, DType, const SpmmOptions&,
                            void*) {
  unavailable("CUDA SpMM plan");
}
void spmm(DeviceContext&, const DeviceMatrix&, const void*, int64_t, int64_t, const void*, void*,
          int64_t, DType, const SpmmOptions&, void*) {
  unavailable("CUDA SpMM");
}

}  // namespace spinfer::cuda
