// The `spinfer` subcommands. Each file registers its command on the CLI11 app through
// one function: the subcommand, its options with their validators, the cross-option
// checks (parse_complete_callback, run while parsing) and the run itself (set_run in
// cli_common.hpp, after parsing), which returns the exit code.
#pragma once

namespace CLI {
class App;
}

namespace spinfer_tool {

void add_demo(CLI::App& app);      // cli_demo.cpp
void add_inspect(CLI::App& app);   // cli_inspect.cpp
void add_generate(CLI::App& app);  // cli_generate.cpp
void add_bench(CLI::App& app);     // cli_bench.cpp

// A command that parses its own arguments, `int main_fn(int argc, char** argv)` with
// argv = {"spinfer", name, ARGS...} as the hand-written parsers had it: every argument
// after the name, --help included, goes to it unparsed; its return value is the exit
// code (cli_raw_command.cpp).
using RawMain = int (*)(int argc, char** argv);
void add_raw_command(CLI::App& app, const char* name, const char* description, RawMain main_fn);

}  // namespace spinfer_tool
