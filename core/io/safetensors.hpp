// Minimal, defensive safetensors reader and writer
// (https://huggingface.co/docs/safetensors: u64 little-endian header length, JSON
// header, then the raw little-endian tensor bytes).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace spinfer::io {

struct TensorEntry {
  std::string dtype;           // safetensors spelling: "F16", "BF16", "U64", ...
  std::vector<uint64_t> shape;
  uint64_t begin = 0, end = 0; // byte range inside the data section
};

// A whole safetensors file held in memory. Parsing checks every header field: the
// header length, JSON syntax, dtypes, shapes, byte ranges (in bounds, exactly the
// size the shape needs, not overlapping) and that metadata values are strings.
class SafetensorsFile {
 public:
  static SafetensorsFile read(const std::string& path);
  // Reads and checks only the 8-byte length and the JSON header (byte ranges are still
  // checked against the file's size): for listing names and metadata without reading
  // the tensors. data() must not be called on the result.
  static SafetensorsFile read_header(const std::string& path);
  // Checks the header as read_header() does, then maps the whole file read-only
  // (mmap): data() points into the mapping, whose pages the kernel reads on demand and
  // may drop again, so a converter never holds a whole shard in its own memory.
  static SafetensorsFile map(const std::string& path);
  // `file_size` is the size of the whole file when `bytes` holds only its beginning
  // (read_header); by default the bytes are the whole file.
  static SafetensorsFile parse(std::vector<uint8_t> bytes, const std::string& what,
                               uint64_t file_size = UINT64_MAX);

  const std::map<std::string, TensorEntry>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const uint8_t* data(const TensorEntry& t) const { return base() + data_start_ + t.begin; }
  // A mapped file (map()): tells the kernel that the pages of `t` are not needed any
  // more (they are read again from the file if used). Nothing to do otherwise.
  void release(const TensorEntry& t) const;

 private:
  struct Mapping;  // an mmap of the whole file, unmapped when the last copy goes
  const uint8_t* base() const;
  std::vector<uint8_t> bytes_;
  std::shared_ptr<const Mapping> mapping_;
  uint64_t data_start_ = 0;
  uint64_t file_size_ = 0;
  std::map<std::string, TensorEntry> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A tensor to write: its bytes are copied straight into the file.
struct TensorToWrite {
  std::string name, dtype;
  std::vector<uint64_t> shape;
  const void* data = nullptr;
  uint64_t bytes = 0;
};

// Writes a safetensors file atomically (temporary file + rename).
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata);

// Bytes per element of a safetensors dtype, 0 when unknown.
uint64_t safetensors_dtype_size(const std::string& dtype);

}  // namespace spinfer::io
