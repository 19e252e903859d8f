// DeviceContext: properties, split-K workspace slots and upload staging (see the header).
#include "cuda/device_context.hpp"

#include <algorithm>
#include <cstring>

#include "common/fault_injection.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/dense_gemm.hpp"
#include "cuda/spmm_dispatch.hpp"
#include "cuda/spmm_params.hpp"

namespace spinfer::cuda {

DeviceContext::DeviceContext(int device, int workspace_slots, bool lazy_workspace) : device_(device) {
  DeviceGuard guard(device);
  check_cuda(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device),
             "cudaDeviceGetAttribute(multiprocessors)");
  int smem = 0;
  check_cuda(cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device),
             "cudaDeviceGetAttribute(shared memory per multiprocessor)");
  smem_per_sm_ = smem;
  int major = 0, minor = 0;
  check_cuda(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device),
             "cudaDeviceGetAttribute(compute capability)");
  check_cuda(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device),
             "cudaDeviceGetAttribute(compute capability)");
  require(major >= 8, SPINFER_STATUS_NOT_SUPPORTED, [&] {
    return "device " + std::to_string(device) + " has compute capability " + std::to_string(major) +
           ".x; spinfer's CUDA kernels need 8.0 or newer";
  });
  specialised_spmm_ = major == 9 && minor == 0;
  wgmma_spmm_ = specialised_spmm_ && SPINFER_BUILT_SM90A;
  check_cuda(prepare_spmm_smbd(specialised_spmm_), "setting the SpMM kernels' shared-memory limit");
  const SpmmKernel kernels[4] = {SpmmKernel::block, SpmmKernel::specialised, SpmmKernel::wgmma,
                                 SpmmKernel::warp_k};
  for (int k = 0; k < 4; ++k)
    if (has_kernel(kernels[k]))
      for (int i = 0; i < 6; ++i)
        if (kernel_serves(kernels[k], kSmbdTiles[i]))
          blocks_per_sm_[k][i] = spmm_smbd_blocks_per_sm(kernels[k], kSmbdTiles[i]);

  // The dense path (cuBLAS handle, scratch pool) now, not at its first call: that call
  // may be under graph capture, where cublasCreate cannot run.
  dense_gemm_.reset(create_dense_gemm(device, major));

  slots_.resize(size_t(workspace_slots));
  for (auto& slot : slots_) {
    slot.partial_floats = kSplitKSlotPartialBytes / sizeof(float);
    slot.counter_count = kSplitKSlotCounters;
  }
  if (lazy_workspace || workspace_slots == 0) return;
  try {
    for (int s = 0; s < workspace_slots; ++s) allocate_slot(s, nullptr);
    check_cuda(cudaDeviceSynchronize(), "clearing the split-K workspace");  // counters are zero before any use
  } catch (...) {
    for (auto& slot : slots_) cudaFree(slot.partials);  // no destructor runs after a throwing constructor
    throw;
  }
}

void DeviceContext::allocate_slot(int s, cudaStream_t stream) {
  // Partials first (16-byte aligned), then the counters, which must start at zero.
  const size_t bytes = kSplitKSlotPartialBytes + kSplitKSlotCounters * sizeof(unsigned);
  void* mem = nullptr;
  check_cuda(SPINFER_FAULT_OR(device_alloc, cudaErrorMemoryAllocation, cudaMalloc(&mem, bytes)),
             "cudaMalloc(split-K workspace)");
  if (cudaError_t err = cudaMemsetAsync(mem, 0, bytes, stream); err != cudaSuccess) {
    cudaFree(mem);
    check_cuda(err, "clearing the split-K workspace");
  }
  slots_[size_t(s)].partials = static_cast<float*>(mem);
  slots_[size_t(s)].counters =
      reinterpret_cast<unsigned*>(static_cast<unsigned char*>(mem) + kSplitKSlotPartialBytes);
}

DeviceContext::~DeviceContext() {
  int previous = 0;
  if (cudaGetDevice(&previous) != cudaSuccess) previous = device_;
  cudaSetDevice(device_);
  // Work queued on any stream may still use the workspace or the staging buffers.
  cudaDeviceSynchronize();
  for (auto& slot : slots_) cudaFree(slot.partials);
  dense_gemm_.reset();  // while the device is current
  for (int i = 0; i < 2; ++i) {
    if (staging_done_[i]) cudaEventDestroy(staging_done_[i]);
    if (staging_[i]) cudaFreeHost(staging_[i]);
  }
  cudaSetDevice(previous);
}

bool DeviceContext::has_kernel(SpmmKernel kernel) const {
  switch (kernel) {
    case SpmmKernel::block: return true;
    case SpmmKernel::specialised: return specialised_spmm_;
    case SpmmKernel::wgmma: return wgmma_spmm_;
    case SpmmKernel::warp_k: return specialised_spmm_;
    case SpmmKernel::dense_gemm: return dense_gemm_ready(*dense_gemm_);
    default: return false;
  }
}

int DeviceContext::blocks_per_sm(SpmmKernel kernel, int tile_n) const {
  const int* per_tile = blocks_per_sm_[kernel == SpmmKernel::specialised ? 1
                                       : kernel == SpmmKernel::wgmma     ? 2
                                       : kernel == SpmmKernel::warp_k    ? 3
                                                                         : 0];
  const int i = smbd_tile_index(tile_n);
  return per_tile[i < 0 ? 3 : i];  // an unknown tile as 64 (the entry rejects it first)
}

int DeviceContext::slot_for(void* stream, bool may_allocate) const {
  if (auto it = slot_of_stream_.find(stream); it != slot_of_stream_.end()) return it->second;
  int unallocated = -1;
  for (int s = 0; s < int(slots_.size()); ++s) {
    bool bound = false;
    for (const auto& entry : slot_of_stream_) bound = bound || entry.second == s;
    if (bound) continue;
    if (slots_[size_t(s)].partials) return s;
    if (unallocated < 0) unallocated = s;
  }
  return may_allocate ? unallocated : -1;
}

namespace {
// Whether work queued on `stream` is being captured into a graph (then nothing may be
// allocated for it).
bool capturing(void* stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  check_cuda(cudaStreamIsCapturing(static_cast<cudaStream_t>(stream), &status), "cudaStreamIsCapturing");
  return status != cudaStreamCaptureStatusNone;
}
}  // namespace

const SplitKWorkspace* DeviceContext::workspace_peek(void* stream) {
  const bool may_allocate = !capturing(stream);
  std::lock_guard<std::mutex> lock(workspace_mutex_);
  const int s = slot_for(stream, may_allocate);
  return s >= 0 ? &slots_[size_t(s)] : nullptr;
}

const SplitKWorkspace* DeviceContext::workspace_for(void* stream) {
  const bool may_allocate = !capturing(stream);
  std::lock_guard<std::mutex> lock(workspace_mutex_);
  const int s = slot_for(stream, may_allocate);
  if (s < 0) return nullptr;
  if (!slots_[size_t(s)].partials) {
    DeviceGuard guard(device_);
    allocate_slot(s, static_cast<cudaStream_t>(stream));  // ordered before the call's kernels
  }
  slot_of_stream_.emplace(stream, s);  // no-op when already bound
  return &slots_[size_t(s)];
}

size_t DeviceContext::workspace_bytes_allocated() {
  std::lock_guard<std::mutex> lock(workspace_mutex_);
  size_t bytes = 0;
  for (const auto& slot : slots_)
    if (slot.partials) bytes += kSplitKSlotPartialBytes + kSplitKSlotCounters * sizeof(unsigned);
  return bytes;
}

void DeviceContext::release_stream(void* stream) {
  {
    std::lock_guard<std::mutex> lock(workspace_mutex_);
    if (slot_of_stream_.find(stream) == slot_of_stream_.end()) return;
  }
  // Its work may still use the slot (partials, counters): wait for it first.
  DeviceGuard guard(device_);
  check_cuda(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "cudaStreamSynchronize (release_stream)");
  std::lock_guard<std::mutex> lock(workspace_mutex_);
  auto it = slot_of_stream_.find(stream);
  if (it == slot_of_stream_.end()) return;
  slot_of_stream_.erase(it);
}

void DeviceContext::upload_pageable(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(staging_mutex_);
  // Each piece is made only if missing: a failure half-way (out of pinned memory) must
  // leave the context usable, not with a NULL buffer or event the next upload would use.
  for (int i = 0; i < 2; ++i) {
    if (!staging_[i]) {
      void* p = nullptr;
      check_cuda(SPINFER_FAULT_OR(pinned_alloc, cudaErrorMemoryAllocation, cudaMallocHost(&p, kStagingBytes)),
                 "cudaMallocHost(upload staging)");
      staging_[i] = p;
    }
    if (!staging_done_[i]) {
      cudaEvent_t e = nullptr;
      check_cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate(upload staging)");
      staging_done_[i] = e;  // never recorded yet: cudaEventSynchronize returns at once
    }
  }
  size_t done = 0;
  int buf = 0;
  while (done < bytes) {
    const size_t chunk = std::min(kStagingBytes, bytes - done);
    // Wait until the copy that last used this buffer has read it.
    check_cuda(cudaEventSynchronize(staging_done_[buf]), "cudaEventSynchronize(upload staging)");
    std::memcpy(staging_[buf], static_cast<const unsigned char*>(src) + done, chunk);
    check_cuda(cudaMemcpyAsync(static_cast<unsigned char*>(dst) + done, staging_[buf], chunk,
                               cudaMemcpyHostToDevice, stream),
               "cudaMemcpyAsync(upload)");
    check_cuda(cudaEventRecord(staging_done_[buf], stream), "cudaEventRecord(upload staging)");
    done += chunk;
    buf ^= 1;
  }
}

}  // namespace spinfer::cuda
