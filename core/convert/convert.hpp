// Hugging Face checkpoint directory -> spinfer model directory (spinfer_convert_model).
//
// Map: checkpoint.hpp opens the source (mapped shards), compression_config.hpp reads
// what config.json says about compression, plan_jobs (here) decides what becomes of each
// tensor, convert_job.hpp turns one job into output tensors (prune, encode or import,
// verify, leave dense), shard_writer.hpp writes the shards and the index.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/dtype.hpp"

namespace spinfer::convert {

struct ConvertProgress {
  int64_t tensors_done = 0, tensors_total = 0;
  uint64_t bytes_done = 0, bytes_total = 0;  // source bytes
  const char* tensor = "";                    // the output tensor just finished
  const char* note = "";                      // what was decided about it, "" if nothing special
};

struct ConvertOptions {
  double sparsity = 0.0;  // 0: keep the checkpoint's zeros as they are
  bool per_row = false;
  DType dtype = DType::f16;
  uint64_t shard_size = uint64_t(2) << 30;
  int threads = 0;  // 0: hardware concurrency
  bool verify = true;
  std::function<void(const ConvertProgress&)> progress;  // called on the caller's thread
};

struct ConvertReport {
  int64_t tensors = 0;         // output tensors (a matrix counts once)
  int64_t matrices = 0;        // written as TCA-BME
  int64_t matrices_dense = 0;  // weights of matrices left dense (encoding would not be smaller)
  int64_t imported = 0;        // compressed-tensors sparse-bitmask weights imported
  int64_t linear_nnz = 0, linear_elements = 0;  // decoder-layer linear weights (not lm_head)
  uint64_t bytes_read = 0, bytes_written = 0;
  int shards = 0;
};

ConvertReport convert_model(const std::string& src, const std::string& dst, const ConvertOptions& options);

// True for the weights that become matrices: the linear weights of OPT / LLaMA decoder
// layers (q/k/v/o/out_proj, fc1/fc2, gate/up/down_proj) and lm_head.weight.
bool is_linear_weight(const std::string& name);
inline bool is_lm_head(const std::string& name) { return name == "lm_head.weight"; }

}  // namespace spinfer::convert
