// The `spinfer` command line in process (tools/cli_app.cpp): exit codes and messages of
// the parse.
#include <doctest/doctest.h>

#include <CLI/CLI.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "cli_app.hpp"
#include "cli_commands.hpp"
#include "cli_common.hpp"

namespace {

struct Outcome {
  int code;
  std::string out, err;
};

Outcome run(std::vector<std::string> args) {
  args.insert(args.begin(), "spinfer");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  CLI::App app("test", "spinfer");
  spinfer_tool::build_app(app);
  std::ostringstream out, err;
  const int code = spinfer_tool::run_command_line(app, int(argv.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

}  // namespace

TEST_CASE("help, version and bad arguments: exit codes and messages") {
  spinfer_tool::set_parse_only(true);  // nothing below runs a command
  Outcome o = run({"--help"});
  CHECK(o.code == 0);
  CHECK(o.out.find("usage: spinfer") != std::string::npos);
  for (const char* command : {"demo", "inspect", "generate", "bench", "convert"})
    CHECK(o.out.find(command) != std::string::npos);
  o = run({"--version"});
  CHECK(o.code == 0);
  CHECK(o.out.find(std::string("spinfer ") + spinfer_version()) != std::string::npos);
  o = run({"demo", "--rows", "0x10"});
  CHECK(o.code == 2);
  CHECK(o.err.find("--rows: '0x10' is not an integer in [1, 65536]") != std::string::npos);
  CHECK(o.err.find("usage: spinfer demo") != std::string::npos);
  o = run({"bench", "f", "--tokens", "4,0"});
  CHECK(o.code == 2);
  CHECK(o.err.find("--tokens: '4,0'") != std::string::npos);
  o = run({"demo", "--rows", "40000", "--cols", "40000"});
  CHECK(o.code == 2);
  CHECK(o.err.find("at most 2^28") != std::string::npos);
  o = run({"nope"});
  CHECK(o.code == 2);
  CHECK(o.err.find("unknown command 'nope'") != std::string::npos);
  CHECK(run({"demo", "--rows", "64", "--sparsity", "0.25"}).code == 0);
}

TEST_CASE("convert: its arguments are checked before anything is read") {
  spinfer_tool::set_parse_only(true);
  Outcome o = run({"convert", "--help"});
  CHECK(o.code == 0);
  CHECK(o.out.find("SRC_DIR") != std::string::npos);
  o = run({"convert", "src"});
  CHECK(o.code == 2);
  CHECK(o.err.find("DST_DIR") != std::string::npos);
  o = run({"convert", "src", "dst", "--sparsity", "1.5"});
  CHECK(o.code == 2);
  CHECK(o.err.find("--sparsity: '1.5' is not a number in [0, 1)") != std::string::npos);
  o = run({"convert", "src", "dst", "--threads", "-1"});
  CHECK(o.code == 2);
  CHECK(o.err.find("--threads: '-1'") != std::string::npos);
  o = run({"convert", "src", "dst", "--dtype", "fp32"});
  CHECK(o.code == 2);
  CHECK(o.err.find("--dtype: 'fp32' is not float16 or bfloat16") != std::string::npos);
  CHECK(run({"convert", "src", "dst", "--sparsity", "0.5", "--per-row", "--dtype", "bf16"}).code == 0);
}
