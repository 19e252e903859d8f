// Greedy generation with a spinfer model directory (tools/spinfer_convert.py output),
// through the public C API only.
//
//   spinfer_generate MODEL_DIR [--backend host|cuda|auto] [--max-new N] [TOKEN ...]
//
// Prints the generated token ids on one line ("generated: 5 17 ...") and the decode
// speed. Without TOKENs the prompt is "1 2 3 4".
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "spinfer.h"

namespace {

bool ok(spinfer_status_t s, const char* what) {
  if (s == SPINFER_STATUS_SUCCESS) return true;
  std::fprintf(stderr, "%s failed: %s: %s\n", what, spinfer_status_string(s), spinfer_last_error_message());
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [--backend host|cuda|auto] [--max-new N] [TOKEN ...]\n", argv[0]);
    return 2;
  }
  const char* dir = argv[1];
  spinfer_backend_t backend = SPINFER_BACKEND_AUTO;
  long max_new = 16;
  std::vector<int32_t> prompt;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--backend") && i + 1 < argc) {
      const std::string b = argv[++i];
      backend = b == "host" ? SPINFER_BACKEND_HOST : b == "cuda" ? SPINFER_BACKEND_CUDA : SPINFER_BACKEND_AUTO;
    } else if (!std::strcmp(argv[i], "--max-new") && i + 1 < argc) {
      max_new = std::strtol(argv[++i], nullptr, 10);
    } else {
      prompt.push_back(int32_t(std::strtol(argv[i], nullptr, 10)));
    }
  }
  if (prompt.empty()) prompt = {1, 2, 3, 4};

  spinfer_context_t* ctx = nullptr;
  spinfer_model_t* model = nullptr;
  int rc = 1;
  if (ok(spinfer_context_create(&ctx, backend), "spinfer_context_create") &&
      ok(spinfer_model_load(ctx, &model, dir, nullptr, nullptr), "spinfer_model_load")) {
    spinfer_model_info_t info{};
    info.struct_size = sizeof(info);
    spinfer_model_get_info(model, &info);
    spinfer_backend_t used = SPINFER_BACKEND_HOST;
    spinfer_context_get_backend(ctx, &used);
    std::printf("model: %s, %lld layers, hidden %lld, vocab %lld, %.1f MB of weights (%.2fx of dense), backend %s\n",
                info.arch == SPINFER_ARCH_OPT ? "OPT" : "LLaMA", (long long)info.num_layers,
                (long long)info.hidden_size, (long long)info.vocab_size, info.weight_bytes / 1e6,
                double(info.weight_bytes) / double(info.dense_weight_bytes),
                used == SPINFER_BACKEND_CUDA ? "CUDA" : "host");
    std::vector<int32_t> out(size_t(max_new > 0 ? max_new : 0));
    int64_t produced = 0;
    const auto t0 = std::chrono::steady_clock::now();
    if (ok(spinfer_model_generate_greedy(ctx, model, 0, prompt.data(), int64_t(prompt.size()), max_new, -1,
                                         out.data(), &produced, nullptr),
           "spinfer_model_generate_greedy")) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("generated:");
      for (int64_t i = 0; i < produced; ++i) std::printf(" %d", out[size_t(i)]);
      std::printf("\n%lld tokens in %.3f s (prefill of %zu included)\n", (long long)produced, s, prompt.size());
      rc = 0;
    }
  }
  spinfer_model_destroy(model);
  spinfer_context_destroy(ctx);
  return rc;
}
