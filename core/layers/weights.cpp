#include "layers/weights.hpp"

#include "common/error.hpp"

namespace spinfer::layers {

int64_t MatrixInput::rows() const {
  return host ? host->rows : device ? cuda::summary(*device).rows : dense_rows;
}
int64_t MatrixInput::cols() const {
  return host ? host->cols : device ? cuda::summary(*device).cols : dense_cols;
}
DType MatrixInput::dtype() const {
  return host ? host->dtype : device ? cuda::summary(*device).dtype : dense_dtype;
}

namespace {

Weight weight_of_host(const HostMatrix& m) {
  Weight w;
  w.host = &m;
  w.rows = m.rows;
  w.cols = m.cols;
  w.dtype = m.dtype;
  return w;
}

Weight weight_of_device(const cuda::DeviceMatrix& m) {
  const cuda::DeviceMatrixSummary s = cuda::summary(m);
  Weight w;
  w.device = &m;
  w.rows = s.rows;
  w.cols = s.cols;
  w.dtype = s.dtype;
  return w;
}

}  // namespace

void bind_matrix(Backend& backend, const MatrixInput& input, LayerMatrix& out, void* stream,
                 const std::string& what) {
  require(input.present(), SPINFER_STATUS_INVALID_ARGUMENT, [&] { return what + " matrix is NULL"; });
  if (!backend.is_cuda()) {
    require(input.host != nullptr, SPINFER_STATUS_WRONG_LOCATION, [&] {
      return what + " is a device matrix (or dense device weight) but the context is a host context";
    });
    out.weight = weight_of_host(*input.host);
    return;
  }
  if (input.dense) {
    out.weight = Weight{};
    out.weight.dense = input.dense;
    out.weight.rows = input.dense_rows;
    out.weight.cols = input.dense_cols;
    out.weight.dtype = input.dense_dtype;
  } else if (input.device) {
    out.weight = weight_of_device(*input.device);
  } else {
    out.device_copy = backend.upload_matrix(*input.host, stream);
    out.weight = weight_of_device(*out.device_copy);
  }
  require(out.weight.dtype == backend.act_dtype(), SPINFER_STATUS_UNSUPPORTED_DTYPE, [&] {
    return what + " stores " + dtype_name(out.weight.dtype) + " but the layer runs in " +
           dtype_name(backend.act_dtype());
  });
}

// Dense parts that already lie one after the other in memory (the benchmark's dense
// mode allocates them so) are joined without a copy.
static bool dense_adjacent(const std::vector<MatrixInput>& parts) {
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!parts[i].dense || parts[i].dense_cols != parts[0].dense_cols ||
        parts[i].dense_dtype != parts[0].dense_dtype)
      return false;
    if (i > 0) {
      const auto* prev = static_cast<const unsigned char*>(parts[i - 1].dense);
      const size_t bytes = size_t(parts[i - 1].dense_rows * parts[i - 1].dense_cols) * dtype_size(parts[i - 1].dense_dtype);
      if (static_cast<const unsigned char*>(parts[i].dense) != prev + bytes) return false;
    }
  }
  return !parts.empty();
}

bool can_concat_rows(const std::vector<MatrixInput>& parts) {
  if (parts.empty()) return false;
  if (dense_adjacent(parts)) return true;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!parts[i].present() || parts[i].dense) return false;
    if (parts[i].cols() != parts[0].cols() || parts[i].dtype() != parts[0].dtype()) return false;
    if (i + 1 < parts.size() && parts[i].rows() % kGroupTile != 0) return false;
  }
  return true;
}

HostMatrix concat_rows(const std::vector<const HostMatrix*>& parts) {
  HostMatrix out;
  out.cols = parts.at(0)->cols;
  out.dtype = parts[0]->dtype;
  out.format_version = parts[0]->format_version;
  out.group_offsets.push_back(0);
  for (size_t i = 0; i < parts.size(); ++i) {
    const HostMatrix& p = *parts[i];
    require(p.cols == out.cols && p.dtype == out.dtype, SPINFER_STATUS_SHAPE_MISMATCH,
            "matrices joined row-wise must share cols and dtype");
    require(i + 1 == parts.size() || p.rows % kGroupTile == 0, SPINFER_STATUS_SHAPE_MISMATCH,
            "only the last of the matrices joined row-wise may have rows not a multiple of 64");
    const uint64_t base = out.values.size();
    out.values.insert(out.values.end(), p.values.begin(), p.values.end());
    out.bitmaps.insert(out.bitmaps.end(), p.bitmaps.begin(), p.bitmaps.end());
    for (size_t g = 1; g < p.group_offsets.size(); ++g) out.group_offsets.push_back(base + p.group_offsets[g]);
    out.rows += p.rows;
    out.nnz += p.nnz;
  }
  return out;
}

void bind_concat(Backend& backend, const std::vector<MatrixInput>& parts, LayerMatrix& out,
                 void* stream) {
  if (dense_adjacent(parts)) {
    MatrixInput joined = parts[0];
    for (size_t i = 1; i < parts.size(); ++i) joined.dense_rows += parts[i].dense_rows;
    bind_matrix(backend, joined, out, stream, "joined dense matrix");
    return;
  }
  std::vector<HostMatrix> downloaded;
  downloaded.reserve(parts.size());
  std::vector<const HostMatrix*> hosts;
  for (const MatrixInput& p : parts) {
    if (p.host) {
      hosts.push_back(p.host);
    } else {
      downloaded.push_back(backend.download_matrix(*p.device, stream));
      hosts.push_back(&downloaded.back());
    }
  }
  out.host_copy = concat_rows(hosts);
  MatrixInput joined;
  joined.host = &out.host_copy;
  bind_matrix(backend, joined, out, stream, "joined matrix");
  if (backend.is_cuda()) out.host_copy = HostMatrix{};  // the device copy is what runs
}

std::vector<float> host_floats(const void* data, DType dtype, int64_t count) {
  std::vector<float> out;
  if (!data) return out;
  out.resize(size_t(count));
  for (int64_t i = 0; i < count; ++i) out[size_t(i)] = load_as_float(data, dtype, i);
  return out;
}

Buffer to_backend(Backend& backend, const std::vector<float>& values, DType dtype, void* stream) {
  if (values.empty()) return Buffer{};
  std::vector<uint8_t> bytes(values.size() * dtype_size(dtype));
  for (size_t i = 0; i < values.size(); ++i) store_from_float(bytes.data(), dtype, int64_t(i), values[i]);
  Buffer b(backend, bytes.size());
  backend.copy_from_host(b.get(), bytes.data(), bytes.size(), stream);
  return b;
}

void* Scratch::take(size_t bytes) {
  const size_t need = round(bytes);
  require(used_ + need <= buffer_.bytes(), SPINFER_STATUS_INTERNAL_ERROR, [&] {
    return "layer scratch too small: " + std::to_string(used_ + need) + " > " +
           std::to_string(buffer_.bytes()) + " bytes";
  });
  void* p = static_cast<unsigned char*>(buffer_.get()) + used_;
  used_ += need;
  return p;
}

}  // namespace spinfer::layers
