// The `spinfer` command line in process (tools/cli_app.cpp): exit codes and messages of
// the parse, and add_raw_command, through which a command with its own hand-written
// parser (`int NAME_main(int argc, char** argv)`) joins the CLI11 app unchanged.
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

std::vector<std::string> g_seen;  // the argv the raw command received

int raw_main(int argc, char** argv) {
  g_seen.assign(argv, argv + argc);
  return argc > 4 ? 3 : 0;
}

Outcome run(std::vector<std::string> args) {
  args.insert(args.begin(), "spinfer");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  CLI::App app("test", "spinfer");
  spinfer_tool::build_app(app);
  spinfer_tool::add_raw_command(app, "convert", "a hand-parsed command", raw_main);
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

TEST_CASE("add_raw_command: argv reaches the command unparsed, its return value is the exit code") {
  spinfer_tool::set_parse_only(false);
  Outcome o = run({"convert", "--help"});
  CHECK(o.code == 0);
  CHECK(g_seen == std::vector<std::string>{"spinfer", "convert", "--help"});
  o = run({"convert", "src", "--sparsity", "-0.5", "--", "-x"});
  CHECK(o.code == 3);
  CHECK(g_seen == std::vector<std::string>{"spinfer", "convert", "src", "--sparsity", "-0.5", "--", "-x"});
  o = run({"convert"});
  CHECK(o.code == 0);
  CHECK(g_seen == std::vector<std::string>{"spinfer", "convert"});
  spinfer_tool::set_parse_only(true);
  g_seen.clear();
  CHECK(run({"convert", "a"}).code == 0);
  CHECK(g_seen.empty());  // parse only: not run
}
