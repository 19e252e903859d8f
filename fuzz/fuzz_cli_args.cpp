// libFuzzer target: random command lines for the `spinfer` tool, parsed by the tool's
// own CLI11 app (tools/cli_app.cpp) with every command's run switched off, so that only
// the parser, the validators, the cross-option checks and the help / error texts run.
// The input is argv: arguments separated by NUL bytes (fuzz/cli_args.dict holds the
// commands and options). What must hold: no crash, no sanitizer report, an exit code of
// 0 (help, version, or a command line a command would run with) or 2 (a bad one, with
// a message); and what the validators let through is in range.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "cli_app.hpp"
#include "cli_common.hpp"

namespace {

constexpr size_t kMaxArgs = 48;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
  std::abort();
}

// Arguments are the NUL-separated pieces of the input, after the program name.
std::vector<std::string> split_args(const uint8_t* data, size_t size) {
  std::vector<std::string> args = {"spinfer"};
  std::string piece;
  for (size_t i = 0; i < size && args.size() < kMaxArgs; ++i) {
    if (data[i] == 0) {
      args.push_back(piece);
      piece.clear();
    } else {
      piece.push_back(char(data[i]));
    }
  }
  if (!piece.empty() && args.size() < kMaxArgs) args.push_back(piece);
  return args;
}

// The value an accepted integer option ended with must be in its range.
void check_range(const CLI::App* cmd, const char* option, int64_t lo, int64_t hi) {
  const CLI::Option* o = cmd->get_option_no_throw(option);
  if (o == nullptr) fail(std::string("option ") + option + " is gone");
  if (o->count() == 0) return;
  const int64_t v = o->as<int64_t>();
  if (v < lo || v > hi) fail(std::string(option) + " accepted " + std::to_string(v));
}

void check_accepted(const CLI::App& app) {
  const std::vector<CLI::App*> chosen = app.get_subcommands();
  if (chosen.size() != 1) fail("exit 0 without exactly one command and without help");
  const CLI::App* cmd = chosen.front();
  const std::string name = cmd->get_name();
  if (name == "demo") {
    check_range(cmd, "--rows", 1, 65536);
    check_range(cmd, "--cols", 1, 65536);
    check_range(cmd, "--tokens", 1, 4096);
    const int64_t rows = cmd->get_option("--rows")->as<int64_t>(), cols = cmd->get_option("--cols")->as<int64_t>();
    if (rows * cols > (int64_t(1) << 28)) fail("demo accepted more than 2^28 weights");
    const double s = cmd->get_option("--sparsity")->as<double>();
    if (!(s >= 0.0 && s < 1.0)) fail("demo accepted --sparsity " + std::to_string(s));
  } else if (name == "generate") {
    check_range(cmd, "--max-new", 1, int64_t(1) << 20);
    for (const int64_t t : cmd->get_option("TOKEN")->as<std::vector<int64_t>>())
      if (t < 0 || t > INT32_MAX) fail("generate accepted TOKEN " + std::to_string(t));
  } else if (name == "bench") {
    check_range(cmd, "--iters", 1, 10000);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> args = split_args(data, size);
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);

  spinfer_tool::set_parse_only(true);  // the commands' runs return at once
  CLI::App app("spinfer (fuzzed)", "spinfer");
  spinfer_tool::build_app(app);

  std::ostringstream out, err;
  const int code = spinfer_tool::run_command_line(app, int(args.size()), argv.data(), out, err);
  if (code == 2) {
    if (err.str().empty()) fail("exit 2 without a message");
  } else if (code == 0) {
    if (out.str().empty()) check_accepted(app);  // not --help / --version
  } else {
    fail("exit code " + std::to_string(code) + " from parsing alone");
  }
  return 0;
}
