// spinfer: command-line tool over the public C API only (spinfer.h).
//   spinfer demo       random weights, pruned, encoded, saved, loaded, multiplied, checked (cli_demo.cpp)
//   spinfer inspect    tensors of a file or model directory, sizes, validation (cli_inspect.cpp)
//   spinfer generate   greedy generation from a model directory (cli_generate.cpp)
//   spinfer bench      spmm timings per matrix and N (cli_bench.cpp)
//   spinfer convert    Hugging Face checkpoint -> spinfer model directory (cli_convert.cpp)
// The command line is a CLI11 app (cli_app.cpp); shared validators: cli_common.hpp.
#include <CLI/CLI.hpp>

#include "cli_app.hpp"

int main(int argc, char** argv) {
  CLI::App app("spinfer: run and inspect LLMs with unstructured-sparse (TCA-BME) weights", "spinfer");
  spinfer_tool::build_app(app);
  return spinfer_tool::run_command_line(app, argc, argv);
}
