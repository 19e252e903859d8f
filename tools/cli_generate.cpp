// spinfer generate: greedy generation from token ids, through the public C API
// (the same calls as examples/cpp_model/generate.cpp).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "cli_commands.hpp"

namespace spinfer_tool {

namespace {

struct GenerateOptions {
  std::string dir;
  std::string backend = "auto";
  int64_t max_new = 16;
  std::vector<int64_t> prompt;
};

int run_generate(const GenerateOptions& o) {
  const char* dir = o.dir.c_str();
  const spinfer_backend_t backend = backend_from(o.backend);
  const int64_t max_new = o.max_new;
  std::vector<int32_t> prompt(o.prompt.begin(), o.prompt.end());
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

}  // namespace

void add_generate(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Greedy generation from a model directory");
  cmd->footer("Greedy generation from prompt token ids; prints the generated ids on one line and tokens/s.");
  cmd->add_option("MODEL_DIR", o->dir,
                  "a spinfer model directory, or a Hugging Face directory with (pruned) dense weights")
      ->required();
  cmd->add_option("TOKEN", o->prompt, "prompt token ids (default 1 2 3 4)")->check(integer_in(0, INT32_MAX));
  cmd->add_option("--backend", o->backend, "where it runs")->check(backend_names())->capture_default_str();
  cmd->add_option("--max-new", o->max_new, "N, tokens to generate")->check(integer_in(1, int64_t(1) << 20))
      ->capture_default_str();
  set_run(cmd, [o] { return run_generate(*o); });
}

}  // namespace spinfer_tool
