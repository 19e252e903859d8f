// spinfer inspect: every tensor of a safetensors file or of a model directory (config.json
// + *.safetensors, one file or shards, converted or not): name, shape, dtype, measured
// sparsity, bytes, bytes as a spinfer matrix and the ratio to dense fp16; every spinfer
// matrix loaded and validated by the library; for a model directory, the model as
// spinfer_model_load takes it. Exit 1 when anything failed (each failure names its file
// and tensor).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli_commands.hpp"
#include "cli_common.hpp"
#include "inspect_model.hpp"
#include "inspect_output.hpp"
#include "inspect_scan.hpp"

namespace spinfer_tool {

namespace {

struct InspectOptions {
  std::string path;
  bool json = false;
  bool weights_only = false;
};

// The safetensors files of a directory, sorted; empty when there are none.
std::vector<std::string> safetensors_in(const std::filesystem::path& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".safetensors" && e.is_regular_file(ec)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

int run_inspect(const InspectOptions& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool dir = fs::is_directory(o.path, ec);
  std::vector<std::string> paths = dir ? safetensors_in(o.path) : std::vector<std::string>{o.path};
  if (paths.empty()) {
    std::fprintf(stderr, "spinfer inspect: %s holds no .safetensors file\n", o.path.c_str());
    return 1;
  }
  std::vector<FileReport> files;
  for (const std::string& p : paths) files.push_back(scan_file(p));
  std::unique_ptr<ModelReport> model;
  if (dir && !o.weights_only && fs::exists(fs::path(o.path) / "config.json", ec))
    model = std::make_unique<ModelReport>(inspect_model(o.path));

  if (o.json) print_json(o.path, files, model.get());
  else print_text(files, model.get());
  return print_errors(files, model.get()) ? 1 : 0;
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto o = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Tensors, sparsity, sizes and validation of a file or model");
  cmd->add_option("PATH", o->path, "a safetensors file, or a model directory (config.json + *.safetensors)")
      ->required();
  cmd->add_flag("--json", o->json, "print JSON instead of a table");
  cmd->add_flag("--weights-only", o->weights_only, "for a model directory: the files only, no spinfer_model_load");
  cmd->footer("Per tensor: kind (a spinfer matrix or dense), dtype, shape, measured sparsity, bytes as stored,\n"
              "bytes as a spinfer matrix (for a dense 2-D F32/F16/BF16 tensor: what the library's encoder\n"
              "makes of it) and the ratio to dense fp16. Every spinfer matrix is loaded and validated.\n"
              "Totals: stored bytes, and a projection (2-D weights encoded where smaller, the rest fp16) vs\n"
              "dense fp16. A model directory is also loaded on the host: its bytes as spinfer runs it.\n"
              "Exit 1 when a file, tensor or the model failed; each failure names them.");
  set_run(cmd, [o] { return run_inspect(*o); });
}

}  // namespace spinfer_tool
