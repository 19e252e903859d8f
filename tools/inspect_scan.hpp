// What `spinfer inspect` measures: per tensor of a safetensors file its shape, dtype,
// measured sparsity, bytes, and the bytes it takes (or would take) as a spinfer matrix;
// every spinfer matrix loaded and validated by the library. Public C API only, plus
// the file's header (safetensors_listing.hpp) for the tensors that are not matrices.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spinfer_tool {

struct TensorReport {
  std::string name;
  bool matrix = false;          // a spinfer (TCA-BME) matrix
  std::string dtype;            // safetensors dtype; a matrix's storage dtype
  std::vector<int64_t> shape;   // a matrix: [rows, cols]
  int64_t elements = 0;
  int64_t zeros = -1;           // measured; -1 where the dtype is not known
  uint64_t bytes = 0;           // as stored in the file (a matrix: its three arrays)
  uint64_t dense_fp16_bytes = 0;  // elements x 2
  uint64_t encoded_bytes = 0;   // a matrix: `bytes`; a dense 2-D float tensor: encoded by the
                                // library (spinfer_matrix_encode); 0 for the others
  std::string error;            // set when the library refused it (load, validate or encode)
};

struct FileReport {
  std::string path;
  std::vector<TensorReport> tensors;
  std::string error;  // the file as a whole could not be read
};

// Scans one safetensors file. Never exits: problems are in the report's errors.
FileReport scan_file(const std::string& path);

}  // namespace spinfer_tool
