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
void add_convert(CLI::App& app);   // cli_convert.cpp

}  // namespace spinfer_tool
