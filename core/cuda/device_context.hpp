// Per-context GPU state: the device, its properties, the split-K workspaces and the
// pinned staging buffers of uploads. Allocated once at creation (the workspace slots
// lazily if asked); the SpMM hot path never allocates.
//
// Split-K workspace: its slots (a context setting, default 4) are allocated when the
// context is created, or, for a lazy context, each when a stream first binds it outside
// graph capture. A stream is bound to a free slot the first time it runs a split-K SpMM
// (host bookkeeping under a mutex) and keeps it until release_stream. A lazy context
// prefers a slot already allocated, and never allocates while the stream is capturing.
// A stream that finds every slot bound to other streams runs with split_k = 1: the same
// result, only slower for small M x N. Calls on one stream are ordered, so they share
// their slot safely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <cuda_runtime.h>

#include "cuda/cuda_backend.hpp"
#include "cuda/spmm_params.hpp"

namespace spinfer::cuda {

struct SplitKWorkspace {
  float* partials = nullptr;     // fp32 partial tiles
  unsigned* counters = nullptr;  // arrival counters, zero between launches
  size_t partial_floats = 0;
  size_t counter_count = 0;
};

struct DenseGemm;  // the dense path's cuBLAS handle and scratch pool (cuda/dense_gemm.hpp)
struct DenseGemmDeleter { void operator()(DenseGemm* p) const; };

class DeviceContext {
 public:
  static constexpr size_t kStagingBytes = size_t(4) << 20;  // per pinned staging buffer

  // `workspace_slots` split-K workspaces (0..64), allocated now unless `lazy_workspace`.
  DeviceContext(int device, int workspace_slots, bool lazy_workspace = false);
  ~DeviceContext();
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;

  int device() const { return device_; }
  int sm_count() const { return sm_count_; }
  int64_t smem_per_sm() const { return smem_per_sm_; }  // shared memory of one SM, bytes
  // Whether the device runs the sm_90 SpMM kernels (compute capability 9.0), and of them
  // the wgmma one (compiled for sm_90a only).
  bool has_specialised_spmm() const { return specialised_spmm_; }
  bool has_wgmma_spmm() const { return wgmma_spmm_; }
  bool has_kernel(SpmmKernel kernel) const;
  // Resident blocks per SM of an SpMM kernel with `tile_n` tokens per block.
  int blocks_per_sm(SpmmKernel kernel, int tile_n) const;

  // The split-K workspace bound to `stream` (binding a free slot to it on first use,
  // allocating it first on a lazy context), or nullptr when no slot is free.
  const SplitKWorkspace* workspace_for(void* stream);
  // The slot workspace_for(stream) would return now (its sizes; its memory may not be
  // allocated yet), without binding or allocating one.
  const SplitKWorkspace* workspace_peek(void* stream);
  // Split-K workspace bytes allocated now (all slots, or those a lazy context has made).
  size_t workspace_bytes_allocated();
  // Waits for `stream` and unbinds its slot, if it has one.
  void release_stream(void* stream);

  // Copies `bytes` from pageable host memory to device memory on `stream` through the
  // pinned staging buffers; returns when the host source may be reused.
  void upload_pageable(void* dst, const void* src, size_t bytes, cudaStream_t stream);

  // The dense path's state, made with the context (never null; whether it is usable and
  // why not: cuda/dense_gemm.hpp).
  DenseGemm& dense_gemm() const { return *dense_gemm_; }

 private:
  int device_ = 0;
  int sm_count_ = 0;
  int64_t smem_per_sm_ = 0;
  bool specialised_spmm_ = false, wgmma_spmm_ = false;
  // [kernel: block, specialised, wgmma, warp_k][tile: kSmbdTiles]; 1 where a kernel lacks the tile.
  int blocks_per_sm_[4][6] = {{1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}};

  std::mutex workspace_mutex_;
  std::vector<SplitKWorkspace> slots_;  // partials == nullptr: not allocated yet (lazy)
  std::unordered_map<void*, int> slot_of_stream_;
  // The slot bound to `stream`, else a free allocated one, else (when `may_allocate`) a
  // free one not yet allocated, else -1 (workspace_mutex_ held).
  int slot_for(void* stream, bool may_allocate) const;
  // Allocates slot `s` and clears it on `stream` (workspace_mutex_ held).
  void allocate_slot(int s, cudaStream_t stream);

  std::mutex staging_mutex_;
  void* staging_[2] = {nullptr, nullptr};
  cudaEvent_t staging_done_[2] = {nullptr, nullptr};

  std::unique_ptr<DenseGemm, DenseGemmDeleter> dense_gemm_;
};

}  // namespace spinfer::cuda
