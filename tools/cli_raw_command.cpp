#include <string>
#include <vector>

#include "cli_commands.hpp"
#include "cli_common.hpp"

namespace spinfer_tool {

void add_raw_command(CLI::App& app, const char* name, const char* description, RawMain main_fn) {
  CLI::App* cmd = app.add_subcommand(name, description);
  cmd->set_help_flag();   // its own --help
  cmd->prefix_command();  // everything after the name is its
  cmd->allow_extras();
  const std::string command = name;
  set_run(cmd, [cmd, command, main_fn] {
    std::vector<std::string> args = {"spinfer", command};
    for (const std::string& a : cmd->remaining()) args.push_back(a);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return main_fn(int(args.size()), argv.data());
  });
}

}  // namespace spinfer_tool
