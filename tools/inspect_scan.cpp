#include "inspect_scan.hpp"

#include <algorithm>
#include <set>

#include "file_matrices.hpp"
#include "safetensors_listing.hpp"
#include "spinfer.h"

namespace spinfer_tool {

namespace {

std::string library_error(const char* call, spinfer_status_t s) {
  return std::string(call) + ": " + spinfer_status_string(s) + ": " + spinfer_last_error_message();
}

// A spinfer matrix: loaded (which validates every field), validated once more on its
// own, described by the library.
TensorReport scan_matrix(const std::string& path, const std::string& name) {
  TensorReport r;
  r.name = name;
  r.matrix = true;
  spinfer_matrix_t* m = nullptr;
  spinfer_status_t s = spinfer_load(&m, path.c_str(), name.c_str());
  if (s != SPINFER_STATUS_SUCCESS) {
    r.error = library_error("spinfer_load", s);
    return r;
  }
  s = spinfer_matrix_validate(m);
  spinfer_matrix_info_t info{};
  info.struct_size = sizeof info;
  if (s != SPINFER_STATUS_SUCCESS) r.error = library_error("spinfer_matrix_validate", s);
  else if ((s = spinfer_matrix_get_info(m, &info)) != SPINFER_STATUS_SUCCESS)
    r.error = library_error("spinfer_matrix_get_info", s);
  spinfer_matrix_destroy(m);
  if (!r.error.empty()) return r;
  r.dtype = info.dtype == SPINFER_DTYPE_BF16 ? "BF16" : "F16";
  r.shape = {info.rows, info.cols};
  r.elements = info.rows * info.cols;
  r.zeros = r.elements - info.nnz;
  r.bytes = info.bytes;
  r.dense_fp16_bytes = info.dense_bytes;
  r.encoded_bytes = info.bytes;
  return r;
}

// What a dense 2-D F32/F16/BF16 tensor takes once encoded (the library's encoder, non-zeros
// stored as BF16 for a BF16 tensor, else F16); 0 when it is not such a tensor.
uint64_t encoded_size(const TensorEntry& t, const std::vector<uint8_t>& data, std::string* error) {
  spinfer_dtype_t dense;
  if (t.dtype == "F32") dense = SPINFER_DTYPE_F32;
  else if (t.dtype == "F16") dense = SPINFER_DTYPE_F16;
  else if (t.dtype == "BF16") dense = SPINFER_DTYPE_BF16;
  else return 0;
  if (t.shape.size() != 2 || t.elements == 0) return 0;
  const spinfer_dtype_t storage = dense == SPINFER_DTYPE_BF16 ? SPINFER_DTYPE_BF16 : SPINFER_DTYPE_F16;
  spinfer_matrix_t* m = nullptr;
  spinfer_status_t s = spinfer_matrix_encode(&m, data.data(), dense, t.shape[0], t.shape[1], t.shape[1], storage);
  spinfer_matrix_info_t info{};
  info.struct_size = sizeof info;
  if (s == SPINFER_STATUS_SUCCESS) s = spinfer_matrix_get_info(m, &info);
  spinfer_matrix_destroy(m);
  if (s != SPINFER_STATUS_SUCCESS) {
    *error = library_error("spinfer_matrix_encode", s);
    return 0;
  }
  return info.bytes;
}

TensorReport scan_dense(const std::string& path, const TensorEntry& t) {
  TensorReport r;
  r.name = t.name;
  r.dtype = t.dtype;
  r.shape = t.shape;
  r.elements = t.elements;
  r.bytes = t.bytes;
  r.dense_fp16_bytes = uint64_t(t.elements) * 2;
  std::vector<uint8_t> data;
  if (safetensors_dtype_size(t.dtype) == 0) return r;  // listed, not measured
  if (!read_tensor_bytes(path, t, &data, &r.error)) return r;
  r.zeros = count_zeros(t.dtype, data);
  r.encoded_bytes = encoded_size(t, data, &r.error);
  return r;
}

}  // namespace

FileReport scan_file(const std::string& path) {
  FileReport report;
  report.path = path;
  std::vector<TensorEntry> tensors;
  if (!list_safetensors(path, &tensors, &report.error)) return report;
  std::vector<std::string> matrices;
  const spinfer_status_t s = file_matrix_names(path.c_str(), &matrices);
  if (s != SPINFER_STATUS_SUCCESS) {
    report.error = library_error("spinfer_file_matrix_count / _name", s);
    return report;
  }
  // A matrix is stored as three tensors; they are reported as the matrix.
  std::set<std::string> parts;
  for (const std::string& m : matrices)
    for (const char* suffix : {".values", ".bitmaps", ".group_offsets"}) parts.insert(m + suffix);
  for (const std::string& m : matrices) report.tensors.push_back(scan_matrix(path, m));
  for (const TensorEntry& t : tensors)
    if (!parts.count(t.name)) report.tensors.push_back(scan_dense(path, t));
  std::sort(report.tensors.begin(), report.tensors.end(),
            [](const TensorReport& a, const TensorReport& b) { return a.name < b.name; });
  return report;
}

}  // namespace spinfer_tool
