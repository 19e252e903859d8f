// spinfer generate: greedy generation from token ids, through the public C API
// (the same calls as examples/cpp_model/generate.cpp).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "cli_commands.hpp"

namespace spinfer_tool {

const char kGenerateUsage[] =
    "usage: spinfer generate MODEL_DIR [--backend host|cuda|auto] [--max-new N] [TOKEN ...]\n"
    "         MODEL_DIR: a spinfer model directory or a Hugging Face directory with (pruned)\n"
    "         dense weights; N in [1, 1048576] (default 16); TOKEN: prompt ids in\n"
    "         [0, 2147483647] (default 1 2 3 4). Prints the generated ids on one line.\n";

namespace {
const Command kCmd{"generate", kGenerateUsage};
}

int generate_main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "spinfer generate: MODEL_DIR is missing\n%s", kGenerateUsage);
    return 2;
  }
  for (int i = 2; i < argc; ++i)
    if (is_help(argv[i])) {
      std::printf("%s", kGenerateUsage);
      return 0;
    }
  const char* dir = argv[2];
  if (std::strncmp(dir, "--", 2) == 0) bad_argument(kCmd, "MODEL_DIR", dir, "a directory (it comes first)");
  spinfer_backend_t backend = SPINFER_BACKEND_AUTO;
  int64_t max_new = 16;
  std::vector<int32_t> prompt;
  for (int i = 3; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--backend" || k == "--max-new") {
      if (i + 1 >= argc) bad_argument(kCmd, k, "", "followed by a value");
      const char* v = argv[++i];
      if (k == "--backend") backend = parse_backend(kCmd, k, v);
      else max_new = parse_integer(kCmd, k, v, 1, int64_t(1) << 20);
    } else if (k.size() > 2 && k.compare(0, 2, "--") == 0) {
      unknown_option(kCmd, argv[i]);
    } else {
      prompt.push_back(int32_t(parse_integer(kCmd, "TOKEN", argv[i], 0, INT32_MAX)));
    }
  }
  if (prompt.empty()) prompt = {1, 2, 3, 4};

  spinfer_context_t* ctx = nullptr;
  spinfer_model_t* model = nullptr;
  CALL(spinfer_context_create(&ctx, backend));
  CALL(spinfer_model_load(ctx, &model, dir, nullptr, nullptr));
  spinfer_model_info_t info{};
  info.struct_size = sizeof info;
  CALL(spinfer_model_get_info(model, &info));
  spinfer_backend_t used = SPINFER_BACKEND_HOST;
  CALL(spinfer_context_get_backend(ctx, &used));
  std::printf("model: %s, %lld layers, hidden %lld, vocab %lld, %.1f MB of weights (%.2fx of dense), backend %s\n",
              info.arch == SPINFER_ARCH_OPT ? "OPT" : "LLaMA", (long long)info.num_layers,
              (long long)info.hidden_size, (long long)info.vocab_size, info.weight_bytes / 1e6,
              double(info.weight_bytes) / double(info.dense_weight_bytes),
              used == SPINFER_BACKEND_CUDA ? "cuda" : "host");

  std::vector<int32_t> out(static_cast<size_t>(max_new));
  int64_t produced = 0;
  const auto t0 = std::chrono::steady_clock::now();
  CALL(spinfer_model_generate_greedy(ctx, model, 0, prompt.data(), int64_t(prompt.size()), max_new, -1,
                                     out.data(), &produced, nullptr));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("generated:");
  for (int64_t i = 0; i < produced; ++i) std::printf(" %d", out[size_t(i)]);
  // The time covers the whole call: the prefill of the prompt and every decode step.
  std::printf("\n%lld tokens in %.3f s, %.1f tokens/s (prefill of %zu prompt tokens included)\n",
              (long long)produced, s, s > 0 ? double(produced) / s : 0.0, prompt.size());
  spinfer_model_destroy(model);
  spinfer_context_destroy(ctx);
  return 0;
}

}  // namespace spinfer_tool
