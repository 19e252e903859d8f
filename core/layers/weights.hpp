// What layers are built from: matrices given by the caller (host or device), matrices
// a layer owns (fused or uploaded copies), dense parameters copied to the backend,
// and the scratch arena a forward carves its intermediates from.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/backend.hpp"

namespace spinfer::layers {

// A matrix handed to a layer: exactly one pointer set (or none for "absent").
struct MatrixInput {
  const HostMatrix* host = nullptr;
  const cuda::DeviceMatrix* device = nullptr;
  // Dense row-major device weight in the activation dtype (CUDA dense comparison mode).
  const void* dense = nullptr;
  int64_t dense_rows = 0, dense_cols = 0;
  DType dense_dtype = DType::f16;
  bool present() const { return host || device || dense; }
  int64_t rows() const;
  int64_t cols() const;
  DType dtype() const;
};

// The matrix a layer multiplies with, plus whatever copy it had to make.
struct LayerMatrix {
  HostMatrix host_copy;                // fused host matrix (host backend)
  cuda::DeviceMatrixPtr device_copy;   // uploaded or fused device matrix (CUDA backend)
  Weight weight;
};

// Makes `input` usable on `backend`: refers to it when it already lives there,
// uploads a host matrix for CUDA, refuses a device matrix on the host (WRONG_LOCATION).
void bind_matrix(Backend& backend, const MatrixInput& input, LayerMatrix& out, void* stream,
                 const std::string& what);

// True when `parts` can be joined row-wise: same cols and dtype, every part but the
// last with a multiple of 64 rows (GroupTile rows then stay aligned).
bool can_concat_rows(const std::vector<MatrixInput>& parts);
// Row-wise concatenation of encoded host matrices (no re-encoding: GroupTile rows are
// appended and offsets shifted).
HostMatrix concat_rows(const std::vector<const HostMatrix*>& parts);
// Binds the row-wise concatenation of `parts` (downloading device parts first).
void bind_concat(Backend& backend, const std::vector<MatrixInput>& parts, LayerMatrix& out,
                 void* stream);

// Host array of `count` elements of `dtype` (may be NULL) -> fp32 vector (empty if NULL).
std::vector<float> host_floats(const void* data, DType dtype, int64_t count);
// Copies fp32 values to a new backend buffer of element type `dtype` (empty -> no buffer).
Buffer to_backend(Backend& backend, const std::vector<float>& values, DType dtype, void* stream);

// Bump allocator over one backend buffer; sub-buffers are 256-byte aligned.
class Scratch {
 public:
  static constexpr size_t kAlign = 256;
  static size_t round(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }
  Scratch() = default;
  Scratch(Backend& backend, size_t bytes) : buffer_(backend, bytes) {}
  void* take(size_t bytes);  // throws INTERNAL_ERROR when sized too small
  size_t mark() const { return used_; }
  void rewind(size_t mark) { used_ = mark; }
  size_t capacity() const { return buffer_.bytes(); }

 private:
  Buffer buffer_;
  size_t used_ = 0;
};

// Rewinds a Scratch to where it stood when the guard was made -- also when an exception
// (out of memory, a failed launch) leaves the scope, else the scratch stays used up and
// every later forward of the layer fails.
class ScratchMark {
 public:
  explicit ScratchMark(Scratch& scratch) : scratch_(scratch), mark_(scratch.mark()) {}
  ~ScratchMark() { scratch_.rewind(mark_); }
  ScratchMark(const ScratchMark&) = delete;
  ScratchMark& operator=(const ScratchMark&) = delete;

 private:
  Scratch& scratch_;
  size_t mark_;
};

}  // namespace spinfer::layers
