// The weights of a model directory: every *.safetensors file in it, indexed by tensor
// name. Linear weights are spinfer matrices (NAME.values/.bitmaps/.group_offsets) or,
// for an unconverted checkpoint, dense tensors encoded on load; embeddings and norms
// are dense tensors.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "format/tca_bme.hpp"
#include "io/safetensors.hpp"

namespace spinfer::runtime {

class WeightStore {
 public:
  explicit WeightStore(const std::string& dir);  // IO_ERROR / CORRUPT_DATA
  bool has(const std::string& name) const;       // as a matrix or a dense tensor
  // The matrix `name`: encoded, or a dense 2-D tensor encoded as `storage` now.
  // `rows`/`cols` are the expected shape (SHAPE_MISMATCH otherwise).
  HostMatrix matrix(const std::string& name, int64_t rows, int64_t cols, DType storage) const;
  // Dense tensor `name` (F32, F16 or BF16) with exactly `elements` elements, as fp32.
  std::vector<float> dense(const std::string& name, int64_t elements) const;
  // Dense tensor `name` as raw bytes converted to `dtype` (for large tables).
  std::vector<uint16_t> dense16(const std::string& name, int64_t elements, DType dtype) const;

 private:
  struct Located { const io::SafetensorsFile* file; std::string path; };
  std::vector<std::unique_ptr<io::SafetensorsFile>> files_;
  std::vector<std::string> paths_;
  std::map<std::string, Located> matrices_, tensors_;
  const io::TensorEntry& tensor(const std::string& name, int64_t elements, const Located** where) const;
};

}  // namespace spinfer::runtime
