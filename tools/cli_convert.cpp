// spinfer convert: Hugging Face checkpoint directory -> spinfer model directory, through
// the public C API (spinfer_convert_model), with a progress bar on a terminal.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unistd.h>

#include "cli_common.hpp"
#include "cli_commands.hpp"

namespace spinfer_tool {

namespace {

struct ConvertOptions {
  std::string src, dst;
  double sparsity = 0.0;
  bool per_row = false;
  std::string dtype = "float16";
  int64_t shard_size = int64_t(2) << 30;
  int64_t threads = 0;
};

struct ProgressState {
  bool terminal = false;
  std::chrono::steady_clock::time_point start;
  size_t width = 0;  // characters of the bar line last drawn
};

std::string clock_text(double seconds) {
  const long s = long(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

void on_progress(const spinfer_convert_progress_t* p, void* user) {
  auto& st = *static_cast<ProgressState*>(user);
  const bool noteworthy = std::strncmp(p->note, "left dense", 10) == 0;
  if (!st.terminal) {
    std::fprintf(stderr, "spinfer convert: [%lld/%lld] %s%s%s\n", (long long)p->tensors_done,
                 (long long)p->tensors_total, p->tensor, *p->note ? ": " : "", p->note);
    return;
  }
  if (noteworthy) std::fprintf(stderr, "\r%*s\r%s: %s\n", int(st.width), "", p->tensor, p->note);
  const double done = p->bytes_total ? double(p->bytes_done) / double(p->bytes_total) : 1.0;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - st.start).count();
  const std::string eta = done > 0 && done < 1 ? clock_text(elapsed / done - elapsed) : std::string("0:00");
  constexpr int kBar = 30;
  const int filled = int(done * kBar);
  char line[256];
  const int n = std::snprintf(line, sizeof line, "[%.*s%.*s] %lld/%lld tensors, %.2f/%.2f GB, ETA %s",
                              filled, "==============================", kBar - filled,
                              "                              ", (long long)p->tensors_done,
                              (long long)p->tensors_total, p->bytes_done / 1e9, p->bytes_total / 1e9, eta.c_str());
  std::fprintf(stderr, "\r%s", line);
  st.width = size_t(n > 0 ? n : 0);
  if (p->tensors_done == p->tensors_total) std::fprintf(stderr, "\n");
}

int run_convert(const ConvertOptions& o) {
  spinfer_convert_options_t opts;
  CALL(spinfer_convert_options_init(&opts));
  opts.sparsity = o.sparsity;
  opts.prune_per_row = o.per_row ? 1 : 0;
  opts.dtype = o.dtype == "bfloat16" || o.dtype == "bf16" ? SPINFER_DTYPE_BF16 : SPINFER_DTYPE_F16;
  opts.shard_size = uint64_t(o.shard_size);
  opts.threads = int(o.threads);
  const char* dirs[2] = {o.src.c_str(), o.dst.c_str()};
  ProgressState state;
  state.terminal = ::isatty(STDERR_FILENO) != 0;
  state.start = std::chrono::steady_clock::now();
  opts.progress = on_progress;
  opts.progress_user_data = &state;
  spinfer_convert_report_t report;
  CALL(spinfer_convert_report_init(&report));
  CALL(spinfer_convert_model(dirs[0], dirs[1], &opts, &report));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - state.start).count();
  const double sparsity =
      report.linear_elements ? 1.0 - double(report.linear_nnz) / double(report.linear_elements) : 0.0;
  std::printf("converted %s -> %s: %lld tensors, %lld matrices encoded (%lld left dense, %lld imported from "
              "sparse-bitmask), linear sparsity %.3f, %.1f MB -> %.1f MB in %d file%s, %.1f s\n",
              dirs[0], dirs[1], (long long)report.tensors, (long long)report.matrices,
              (long long)report.matrices_dense, (long long)report.imported, sparsity, report.bytes_read / 1e6,
              report.bytes_written / 1e6, report.shards, report.shards == 1 ? "" : "s", seconds);
  return 0;
}

}  // namespace

void add_convert(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand("convert", "Hugging Face checkpoint directory -> spinfer model directory");
  cmd->footer(
      "SRC_DIR: config.json + safetensors (dense F32/F16/BF16, sharded or not, or compressed-tensors "
      "sparse-bitmask). Linear weights become TCA-BME matrices (pruned first with --sparsity), left dense "
      "where encoding would not make them smaller; a progress bar on a terminal, plain lines otherwise.");
  cmd->add_option("SRC_DIR", o->src, "the Hugging Face checkpoint directory")->required();
  cmd->add_option("DST_DIR", o->dst, "the spinfer model directory to write")->required();
  cmd->add_option("--sparsity", o->sparsity,
                  "S, prune each linear weight by magnitude to this fraction of zeros (0: keep the checkpoint's)")
      ->check(fraction_below_one())->capture_default_str();
  cmd->add_flag("--per-row", o->per_row, "prune each output row to S instead of each matrix");
  cmd->add_option("--dtype", o->dtype, "storage dtype of the output")
      ->check(one_of({"float16", "f16", "bfloat16", "bf16"}, "float16 or bfloat16"))->capture_default_str();
  cmd->add_option("--shard-size", o->shard_size, "BYTES, largest output shard")
      ->check(integer_in(1, int64_t(1) << 62))->capture_default_str();
  cmd->add_option("--threads", o->threads, "T, worker threads (0: one per core)")
      ->check(integer_in(0, 1024))->capture_default_str();
  set_run(cmd, [o] { return run_convert(*o); });
}

}  // namespace spinfer_tool
