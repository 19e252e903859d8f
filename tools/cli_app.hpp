// The `spinfer` command line as a CLI11 app: which commands it has, and how a parse
// ends (the exit code). Used by spinfer_cli.cpp and by fuzz/fuzz_cli_args.cpp, which
// parses without running the commands.
#pragma once

#include <iostream>

namespace CLI {
class App;
}

namespace spinfer_tool {

// Registers --version and every command on `app` (made as CLI::App("...", "spinfer")).
void build_app(CLI::App& app);

// Parses argv and runs the chosen command. Returns the exit code: 0 (also after --help
// and --version, printed on `out`), 2 for a bad command line (the message, the
// command's usage line and a pointer to its --help on `err`), or the command's own.
int run_command_line(CLI::App& app, int argc, const char* const* argv, std::ostream& out = std::cout,
                     std::ostream& err = std::cerr);

}  // namespace spinfer_tool
