// spinfer convert: Hugging Face checkpoint directory -> spinfer model directory, through
// the public C API (spinfer_convert_model), with a progress bar on a terminal.
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

#include "cli_common.hpp"
#include "cli_commands.hpp"

namespace spinfer_tool {

const char kConvertUsage[] =
    "usage: spinfer convert SRC_DIR DST_DIR [--sparsity S] [--per-row] [--dtype float16|bfloat16]\n"
    "                       [--shard-size BYTES] [--threads T]\n"
    "         SRC_DIR: a Hugging Face checkpoint (config.json + safetensors: dense F32/F16/BF16,\n"
    "         sharded or not, or compressed-tensors sparse-bitmask); DST_DIR: the spinfer model\n"
    "         directory to write. S in [0, 1): prune each linear weight by magnitude to this\n"
    "         fraction of zeros (default 0: keep the checkpoint's zeros); --per-row: prune each\n"
    "         output row to S; BYTES in [1, 2^62] (default 2147483648); T in [0, 1024]\n"
    "         (default 0: one per core).\n";

namespace {

const Command kCmd{"convert", kConvertUsage};

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

}  // namespace

int convert_main(int argc, char** argv) {
  for (int i = 2; i < argc; ++i)
    if (is_help(argv[i])) {
      std::printf("%s", kConvertUsage);
      return 0;
    }
  spinfer_convert_options_t opts;
  CALL(spinfer_convert_options_init(&opts));
  const char* dirs[2] = {nullptr, nullptr};
  int ndirs = 0;
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--per-row") {
      opts.prune_per_row = 1;
    } else if (k == "--sparsity" || k == "--dtype" || k == "--shard-size" || k == "--threads") {
      if (i + 1 >= argc) bad_argument(kCmd, k, "", "followed by a value");
      const char* v = argv[++i];
      if (k == "--sparsity") {
        char* end = nullptr;
        errno = 0;
        opts.sparsity = std::strtod(v, &end);
        // Written so that NaN fails too; 1 would leave nothing.
        if (errno != 0 || end == v || *end != '\0' || !(opts.sparsity >= 0.0 && opts.sparsity < 1.0))
          bad_argument(kCmd, k, v, "a number in [0, 1)");
      } else if (k == "--dtype") {
        const std::string d = v;
        if (d == "float16" || d == "f16") opts.dtype = SPINFER_DTYPE_F16;
        else if (d == "bfloat16" || d == "bf16") opts.dtype = SPINFER_DTYPE_BF16;
        else bad_argument(kCmd, k, v, "float16 or bfloat16");
      } else if (k == "--shard-size") {
        opts.shard_size = uint64_t(parse_integer(kCmd, k, v, 1, int64_t(1) << 62));
      } else {
        opts.threads = int(parse_integer(kCmd, k, v, 0, 1024));
      }
    } else if (k.size() > 1 && k[0] == '-') {
      unknown_option(kCmd, argv[i]);
    } else if (ndirs < 2) {
      dirs[ndirs++] = argv[i];
    } else {
      bad_argument(kCmd, "argument", k, "expected (only SRC_DIR and DST_DIR are positional)");
    }
  }
  if (ndirs < 2) {
    std::fprintf(stderr, "spinfer convert: %s is missing\n%s", ndirs == 0 ? "SRC_DIR" : "DST_DIR", kConvertUsage);
    return 2;
  }
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

}  // namespace spinfer_tool
