// The tensors of a safetensors file, read from its header: what `spinfer inspect` needs
// beyond the C API, which lists and loads only spinfer matrices. Every field is checked
// before it is trusted (sizes, offsets inside the file, element counts), so a corrupt
// header is an error message, never a crash.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spinfer_tool {

struct TensorEntry {
  std::string name;
  std::string dtype;           // as written: "F32", "BF16", "U64", ...
  std::vector<int64_t> shape;
  int64_t elements = 0;        // product of the shape
  uint64_t offset = 0;         // of the data, from the start of the file
  uint64_t bytes = 0;          // of the data
};

// Bytes of one element of a safetensors dtype, 0 for one this tool does not know.
uint64_t safetensors_dtype_size(const std::string& dtype);

// True for the floating-point dtypes (their -0 counts as zero).
bool safetensors_dtype_is_float(const std::string& dtype);

// Lists the tensors of `path` (sorted by name). False, with `error` set, for a file
// that cannot be read or whose header breaks the format.
bool list_safetensors(const std::string& path, std::vector<TensorEntry>* tensors, std::string* error);

// Reads one listed tensor's bytes.
bool read_tensor_bytes(const std::string& path, const TensorEntry& tensor, std::vector<uint8_t>* out,
                       std::string* error);

// Elements of a tensor's bytes that are zero (+0 or -0 for floats); -1 for an unknown dtype.
int64_t count_zeros(const std::string& dtype, const std::vector<uint8_t>& bytes);

}  // namespace spinfer_tool
