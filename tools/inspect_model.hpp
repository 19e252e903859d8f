// `spinfer inspect` on a model directory: the model as spinfer_model_load takes it on
// the host (which weights it encodes, which stay dense, and their bytes).
#pragma once

#include <cstdint>
#include <string>

namespace spinfer_tool {

struct ModelReport {
  std::string error;  // the library's, when it refused the directory
  std::string arch;   // "opt" or "llama"
  int64_t layers = 0, hidden = 0, vocab = 0;
  std::string dtype;  // storage dtype of the weights
  uint64_t weight_bytes = 0;        // encoded matrices + dense tensors, as loaded
  uint64_t dense_weight_bytes = 0;  // the same with every matrix dense
};

// Loads the model in `dir` on a host context with the smallest KV cache and reports it.
ModelReport inspect_model(const std::string& dir);

}  // namespace spinfer_tool
