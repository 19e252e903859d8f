// A Hugging Face checkpoint directory opened for conversion: config.json and the
// safetensors files (model.safetensors, or the shards model.safetensors.index.json
// names, or every *.safetensors file), each mapped read-only: nothing is read into
// memory until a tensor's bytes are used.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/dtype.hpp"
#include "io/safetensors.hpp"

namespace spinfer::convert {

// One tensor of the checkpoint: its file (mapped) and its header entry.
struct TensorRef {
  const io::SafetensorsFile* file = nullptr;
  const io::TensorEntry* entry = nullptr;
  const uint8_t* data() const { return file->data(*entry); }
  uint64_t bytes() const { return entry->end - entry->begin; }
  uint64_t elements() const;
  void release() const { file->release(*entry); }
};

class Checkpoint {
 public:
  // IO_ERROR / NOT_FOUND / CORRUPT_DATA naming the file or tensor at fault.
  explicit Checkpoint(const std::string& dir);
  const std::string& config_text() const { return config_text_; }
  const std::map<std::string, TensorRef>& tensors() const { return tensors_; }
  size_t file_count() const { return files_.size(); }

 private:
  std::string config_text_;
  std::vector<std::unique_ptr<io::SafetensorsFile>> files_;
  std::map<std::string, TensorRef> tensors_;
};

// The text of DIR/config.json (IO_ERROR when missing or unreadable).
std::string read_config_text(const std::string& dir);

// The float dtype of a safetensors dtype name ("F32", "F16", "BF16"); false otherwise.
bool float_dtype(const std::string& name, DType* out);

// Element i of a float tensor (unaligned data) as float.
float load_float(const uint8_t* data, DType dt, int64_t i);

}  // namespace spinfer::convert
