// Host <-> device copies of encoded matrices (upload, download) and their summary.
#include <algorithm>
#include <string>

#include "cuda/bitmap_layout.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/device_context.hpp"
#include "cuda/device_matrix.hpp"

namespace spinfer::cuda {
namespace {

bool is_pinned(const void* p) {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error of an unknown pointer
    return false;
  }
  return attr.type == cudaMemoryTypeHost;
}

void copy_to_device(DeviceContext& ctx, void* dst, const void* src, size_t bytes,
                    cudaStream_t stream) {
  if (bytes == 0) return;
  if (is_pinned(src))
    check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream),
               "cudaMemcpyAsync(upload)");
  else
    ctx.upload_pageable(dst, src, bytes, stream);
}

}  // namespace

DeviceMatrixPtr upload(DeviceContext& ctx, const HostMatrix& host, void* stream) {
  require(is_storage_dtype(host.dtype), SPINFER_STATUS_UNSUPPORTED_DTYPE,
          "matrix storage dtype must be F16 or BF16");
  const TileGrid grid = host.grid();
  require(host.rows >= 1 && host.cols >= 1 &&
              host.bitmaps.size() == uint64_t(grid.bitmap_count()) &&
              host.group_offsets.size() == uint64_t(grid.groups()) + 1 &&
              host.group_offsets.back() == host.values.size(),
          SPINFER_STATUS_CORRUPT_DATA, "host matrix arrays do not match its shape");
  DeviceGuard guard(ctx.device());
  const cudaStream_t s = as_stream(stream);
  DeviceMatrixPtr m(new DeviceMatrix);
  m->rows = host.rows;
  m->cols = host.cols;
  m->nnz = host.nnz;
  m->dtype = host.dtype;
  m->device = ctx.device();
  for (size_t g = 0; g + 1 < host.group_offsets.size(); ++g)
    m->max_group_values = std::max<uint32_t>(
        m->max_group_values, uint32_t(host.group_offsets[g + 1] - host.group_offsets[g]));
  m->allocate(host.values.size(), host.bitmaps.size(), host.group_offsets.size());
  copy_to_device(ctx, m->values, host.values.data(), host.values.size() * 2, s);
  copy_to_device(ctx, m->bitmaps, host.bitmaps.data(), host.bitmaps.size() * 8, s);
  check_cuda(launch_split_bitmap_words(m->bitmaps, grid.groups(), ctx.sm_count(), s),
             "launching the bitmap layout conversion");
  copy_to_device(ctx, m->group_offsets, host.group_offsets.data(), host.group_offsets.size() * 8, s);
  return m;
}

HostMatrix download(DeviceContext& ctx, const DeviceMatrix& m, void* stream) {
  require_context_device(m.device, ctx.device());
  DeviceGuard guard(ctx.device());
  const cudaStream_t s = as_stream(stream);
  HostMatrix h;
  h.rows = m.rows;
  h.cols = m.cols;
  h.dtype = m.dtype;
  h.nnz = m.nnz;
  h.values.resize(m.values_count);
  h.bitmaps.resize(m.bitmaps_count);
  h.group_offsets.resize(m.offsets_count);
  if (m.values_count)
    check_cuda(cudaMemcpyAsync(h.values.data(), m.values, m.values_count * 2,
                               cudaMemcpyDeviceToHost, s),
               "cudaMemcpyAsync(download values)");
  check_cuda(cudaMemcpyAsync(h.bitmaps.data(), m.bitmaps, m.bitmaps_count * 8,
                             cudaMemcpyDeviceToHost, s),
             "cudaMemcpyAsync(download bitmaps)");
  check_cuda(cudaMemcpyAsync(h.group_offsets.data(), m.group_offsets, m.offsets_count * 8,
                             cudaMemcpyDeviceToHost, s),
             "cudaMemcpyAsync(download group offsets)");
  check_cuda(cudaStreamSynchronize(s), "cudaStreamSynchronize(download)");
  join_bitmap_words(h.bitmaps);  // back to the file layout
  return h;
}

DeviceMatrixSummary summary(const DeviceMatrix& m) {
  DeviceMatrixSummary d;
  d.rows = m.rows;
  d.cols = m.cols;
  d.nnz = m.nnz;
  d.dtype = m.dtype;
  d.values_count = m.values_count;
  d.bitmaps_count = m.bitmaps_count;
  d.offsets_count = m.offsets_count;
  d.device = m.device;
  return d;
}

}  // namespace spinfer::cuda
