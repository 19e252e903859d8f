// Backend presence, device discovery, context creation and the handle deleters.
#include "cuda/cuda_check.hpp"
#include "cuda/device_context.hpp"
#include "cuda/device_matrix.hpp"

namespace spinfer::cuda {

void DeviceContextDeleter::operator()(DeviceContext* p) const { delete p; }
void DeviceMatrixDeleter::operator()(DeviceMatrix* p) const { delete p; }

bool built_with_cuda() { return true; }

bool device_available(int device) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  if (device < 0 || device >= count) return false;
  int major = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess)
    return false;
  return major >= 8;
}

bool is_device_memory(const void* p) {
  if (!p) return false;
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return attr.type == cudaMemoryTypeDevice;
}

DeviceContextPtr create_context(int device, int workspace_slots, bool lazy_workspace) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  require(err == cudaSuccess && count > 0, SPINFER_STATUS_NO_DEVICE,
          [&] { return std::string("no CUDA device: ") + cudaGetErrorString(err); });
  require(device >= 0 && device < count, SPINFER_STATUS_NO_DEVICE, [&] {
    return "CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(count) +
           " present)";
  });
  return DeviceContextPtr(new DeviceContext(device, workspace_slots, lazy_workspace));
}

void release_stream(DeviceContext& ctx, void* stream) { ctx.release_stream(stream); }

}  // namespace spinfer::cuda
