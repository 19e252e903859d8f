// What a checkpoint's config.json says about compression (compressed-tensors: the
// `quantization_config` or older `compression_config` entry): dense, or sparse-bitmask
// weights; anything quantized, or another compression format, is refused.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace spinfer::convert {

struct Compression {
  bool present = false;         // config.json has a quantization/compression entry
  bool sparse_bitmask = false;  // weights may be NAME.compressed/.bitmask/.row_offsets/.shape
  std::vector<std::string> targets, ignore;  // sparsity_config's lists, as written
};

// Reads `config` (config.json, parsed; `what` names it in messages). NOT_SUPPORTED,
// naming the method or format, for quantized weights (a quant_method other than
// compressed-tensors, or a config group that quantizes weights, or a quantized format)
// and for sparsity formats other than "dense" and "sparse-bitmask"; CORRUPT_DATA for
// entries of the wrong JSON type.
Compression read_compression(const nlohmann::json& config, const std::string& what);

}  // namespace spinfer::convert
