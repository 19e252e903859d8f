// Encoded matrices in safetensors files (layout in docs/format.md, "On disk").
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "format/tca_bme.hpp"

namespace spinfer::io {

// Saves each (name, matrix) pair; names must be non-empty and distinct.
void save_matrices(const std::string& path,
                   const std::vector<std::pair<std::string, const HostMatrix*>>& matrices);

// The "spinfer.matrix.NAME" metadata value of `m` (JSON text) and its three tensors
// (pointing into `m`), as save_matrices writes them: for writers that compose a file of
// matrices and other tensors (the model converter).
std::string matrix_metadata(const HostMatrix& m);
struct TensorToWrite;
void append_matrix_tensors(const std::string& name, const HostMatrix& m, std::vector<TensorToWrite>& out);
inline const std::string kMatrixMetadataPrefix = "spinfer.matrix.";

// Loads and validates the matrix `name` (empty: the file's only matrix).
HostMatrix load_matrix(const std::string& path, const std::string& name);

// Names of the spinfer matrices in the file, sorted.
std::vector<std::string> list_matrices(const std::string& path);

// The same two on a file already read (`path` only names it in messages), so that a
// loader of many matrices reads each file once.
class SafetensorsFile;
HostMatrix load_matrix(const SafetensorsFile& file, const std::string& path,
                       const std::string& name);
std::vector<std::string> list_matrices(const SafetensorsFile& file);

}  // namespace spinfer::io
