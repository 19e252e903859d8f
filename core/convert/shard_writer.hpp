// Writes a converted model's tensors as Hugging Face does: one model.safetensors, or
// shards model-0000i-of-0000n.safetensors of at most `shard_size` bytes each (a unit
// larger than that gets a shard of its own) plus model.safetensors.index.json.
// A matrix's three tensors and its metadata always share a shard. Each shard is
// written when full, so at most one shard is held in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "format/tca_bme.hpp"
#include "io/safetensors.hpp"

namespace spinfer::convert {

// Writes a small text file (config.json, the shard index) atomically: a temporary file,
// then rename. IO_ERROR naming the path on failure, nothing left behind.
void write_text_file(const std::string& path, const std::string& text);

// One output item: an encoded matrix (three tensors and a metadata entry) or a dense
// tensor. `tensors` point into `matrix` or `bytes`, which the unit owns.
struct OutputUnit {
  std::vector<io::TensorToWrite> tensors;
  std::vector<std::pair<std::string, std::string>> metadata;
  HostMatrix matrix;
  std::vector<uint8_t> bytes;
  uint64_t size() const;
};

class ShardWriter {
 public:
  ShardWriter(std::string dir, uint64_t shard_size);
  ~ShardWriter();  // removes the shards written so far unless finish() succeeded
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  void add(std::unique_ptr<OutputUnit> unit);
  // Writes what is left, gives the shards their final names, writes the index (when
  // there are several) and removes model*.safetensors files and an index that an
  // earlier conversion left in the directory. Returns the number of shards.
  int finish();
  uint64_t bytes_written() const { return total_; }

 private:
  void flush();
  std::string dir_;
  uint64_t shard_size_;
  std::vector<std::unique_ptr<OutputUnit>> pending_;
  uint64_t pending_size_ = 0, total_ = 0;
  std::vector<std::string> provisional_;           // written shards, under temporary names
  std::vector<std::vector<std::string>> names_;    // tensor names of each shard
  bool finished_ = false;
};

}  // namespace spinfer::convert
