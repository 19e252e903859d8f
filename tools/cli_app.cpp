#include "cli_app.hpp"

#include <memory>
#include <string>

#include "cli_commands.hpp"
#include "cli_common.hpp"

namespace spinfer_tool {

namespace {

std::string version_text() {
  return std::string("spinfer ") + spinfer_version() + " (format v" + std::to_string(SPINFER_FORMAT_VERSION) + ", " +
         (spinfer_has_cuda() ? "CUDA" : "host only") + ")";
}

// "spinfer" or "spinfer COMMAND": the deepest command the parse had reached.
const CLI::App* reached(const CLI::App& app, std::string* path) {
  const CLI::App* at = &app;
  *path = app.get_name();
  while (!at->get_subcommands().empty()) {
    at = at->get_subcommands().front();
    *path += " " + at->get_name();
  }
  return at;
}

}  // namespace

void build_app(CLI::App& app) {
  auto formatter = std::make_shared<CLI::Formatter>();
  formatter->label("Usage", "usage");
  formatter->column_width(34);
  app.formatter(formatter);  // before the commands: each copies it
  app.set_version_flag("--version", version_text, "Print the library version and exit");
  app.require_subcommand(1);
  app.footer("Run 'spinfer COMMAND --help' for a command's arguments and their ranges.\n"
             "Exit codes: 0 success, 1 an error of the library (its message is printed), 2 a bad command line.");
  // One line per command.
  add_demo(app);
  add_inspect(app);
  add_generate(app);
  add_bench(app);
  add_convert(app);
}

int run_command_line(CLI::App& app, int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  try {
    app.parse(argc, argv);
    return 0;
  } catch (const CLI::RuntimeError& e) {  // a command's own exit code
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e, out, err);  // --help, --version
    std::string path;
    const CLI::App* at = reached(app, &path);
    if (at == &app && argc > 1 && argv[1][0] != '-') {  // not a command: say so, list them
      std::string names;
      for (const CLI::App* c : app.get_subcommands({})) names += (names.empty() ? "" : ", ") + c->get_name();
      err << "spinfer: unknown command '" << argv[1] << "' (commands: " << names << ")\n"
          << app.help() << "Run 'spinfer --help' for more information.\n";
      return 2;
    }
    const auto formatter = std::dynamic_pointer_cast<CLI::Formatter>(app.get_formatter());
    err << path << ": " << e.what() << "\n"
        << (formatter ? formatter->make_usage(at, path) : "") << "Run '" << path << " --help' for more information.\n";
    return 2;
  }
}

}  // namespace spinfer_tool
