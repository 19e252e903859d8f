// Helpers shared by the `spinfer` subcommands: argument validators (CLI11) whose
// messages name the argument and its value, and the exits.
// Exit codes: 0 success, 1 the library reported an error, 2 a bad command line.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "spinfer.h"

namespace spinfer_tool {

// Prints the library's message for a failed call and exits 1.
[[noreturn]] void die(const char* what, spinfer_status_t s);

// A bad command line found after parsing (a value valid alone but not with the rest):
// throws CLI::ValidationError, which the tool turns into exit code 2.
[[noreturn]] void bad_argument(const std::string& option, const std::string& value, const std::string& want);

// What `cmd` does once its command line is parsed: `run`, whose non-zero return value
// ends the parse as CLI::RuntimeError(code), the tool's exit code. The callback keeps
// the command's options (bound by reference) alive with the app.
void set_run(CLI::App* cmd, std::function<int()> run);

// Parse only: set_run's callbacks return without running (the fuzzer's mode).
void set_parse_only(bool parse_only);

// The whole text as a decimal integer in [lo, hi] (no sign tricks, no exponent, no
// trailing characters); false otherwise.
bool parse_integer(const std::string& text, int64_t lo, int64_t hi, int64_t* out);

// Validators. Each accepts exactly what its description says; its message on failure
// is "'VALUE' is not WANT" (CLI11 prefixes the option's name).
CLI::Validator integer_in(int64_t lo, int64_t hi);
CLI::Validator integer_list_in(int64_t lo, int64_t hi);  // "N[,N...]"
CLI::Validator fraction_below_one();                     // a number in [0, 1)
CLI::Validator one_of(std::initializer_list<const char*> words, const std::string& want);

// "N[,N...]" as integers; the text must have passed integer_list_in.
std::vector<int64_t> integer_list(const std::string& text);

// --backend: the validator and the value it accepted.
CLI::Validator backend_names();
spinfer_backend_t backend_from(const std::string& name);

}  // namespace spinfer_tool

#define CALL(expr)                                                 \
  do {                                                             \
    spinfer_status_t s_ = (expr);                                  \
    if (s_ != SPINFER_STATUS_SUCCESS) spinfer_tool::die(#expr, s_); \
  } while (0)
