// Helpers shared by the `spinfer` subcommands: error exits and argument parsing.
// Exit codes: 0 success, 1 the library reported an error, 2 a bad command line.
#pragma once

#include <cstdint>
#include <string>

#include "spinfer.h"

namespace spinfer_tool {

// A subcommand's name and usage text, for its messages.
struct Command {
  const char* name;   // "demo", "generate", ...
  const char* usage;  // printed after a bad argument and for --help
};

// Prints the library's message for a failed call and exits 1.
[[noreturn]] void die(const char* what, spinfer_status_t s);

// Reports a bad command line (exit code 2) naming the option and the value.
[[noreturn]] void bad_argument(const Command& cmd, const std::string& option, const std::string& value,
                               const char* want);

// Reports an unknown option (exit code 2).
[[noreturn]] void unknown_option(const Command& cmd, const char* option);

// The whole string as an integer in [lo, hi], else bad_argument.
int64_t parse_integer(const Command& cmd, const std::string& option, const char* text, int64_t lo, int64_t hi);

// "host", "cuda" or "auto", else bad_argument.
spinfer_backend_t parse_backend(const Command& cmd, const std::string& option, const char* text);

// True for "--help" and "-h".
bool is_help(const char* arg);

}  // namespace spinfer_tool

#define CALL(expr)                                                 \
  do {                                                             \
    spinfer_status_t s_ = (expr);                                  \
    if (s_ != SPINFER_STATUS_SUCCESS) spinfer_tool::die(#expr, s_); \
  } while (0)
