#include "cli_common.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace spinfer_tool {

void die(const char* what, spinfer_status_t s) {
  std::fprintf(stderr, "spinfer: %s failed: %s: %s\n", what, spinfer_status_string(s),
               spinfer_last_error_message());
  std::exit(1);
}

void bad_argument(const Command& cmd, const std::string& option, const std::string& value, const char* want) {
  std::fprintf(stderr, "spinfer %s: %s '%s' is not %s\n%s", cmd.name, option.c_str(), value.c_str(), want,
               cmd.usage);
  std::exit(2);
}

void unknown_option(const Command& cmd, const char* option) {
  std::fprintf(stderr, "spinfer %s: unknown option %s\n%s", cmd.name, option, cmd.usage);
  std::exit(2);
}

int64_t parse_integer(const Command& cmd, const std::string& option, const char* text, int64_t lo, int64_t hi) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text, &end, 10);
  const std::string want = "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) bad_argument(cmd, option, text, want.c_str());
  return v;
}

spinfer_backend_t parse_backend(const Command& cmd, const std::string& option, const char* text) {
  const std::string b = text;
  if (b == "host") return SPINFER_BACKEND_HOST;
  if (b == "cuda") return SPINFER_BACKEND_CUDA;
  if (b == "auto") return SPINFER_BACKEND_AUTO;
  bad_argument(cmd, option, text, "host, cuda or auto");
}

bool is_help(const char* arg) { return std::strcmp(arg, "--help") == 0 || std::strcmp(arg, "-h") == 0; }

}  // namespace spinfer_tool
