#include "cli_common.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace spinfer_tool {

void die(const char* what, spinfer_status_t s) {
  std::fprintf(stderr, "spinfer: %s failed: %s: %s\n", what, spinfer_status_string(s),
               spinfer_last_error_message());
  std::exit(1);
}

void bad_argument(const std::string& option, const std::string& value, const std::string& want) {
  throw CLI::ValidationError(option, "'" + value + "' is not " + want);
}

namespace {
bool g_parse_only = false;
}

void set_parse_only(bool parse_only) { g_parse_only = parse_only; }

void set_run(CLI::App* cmd, std::function<int()> run) {
  cmd->callback([run = std::move(run)] {
    if (g_parse_only) return;
    const int code = run();
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

bool parse_integer(const std::string& text, int64_t lo, int64_t hi, int64_t* out) {
  // strtoll alone would accept leading blanks and a '+'; only digits with an optional '-'.
  if (text.empty() || text.size() > 32) return false;
  for (size_t i = 0; i < text.size(); ++i)
    if (!(text[i] >= '0' && text[i] <= '9') && !(i == 0 && text[i] == '-' && text.size() > 1)) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

namespace {

std::string range(int64_t lo, int64_t hi) { return "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]"; }

std::string refusal(const std::string& value, const std::string& want) { return "'" + value + "' is not " + want; }

// Splits "a,b,c" at commas; an empty piece stays (and then fails to parse).
std::vector<std::string> pieces(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    out.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

}  // namespace

CLI::Validator integer_in(int64_t lo, int64_t hi) {
  const std::string want = "an integer in " + range(lo, hi);
  return CLI::Validator(
      [lo, hi, want](std::string& v) {
        int64_t x = 0;
        return parse_integer(v, lo, hi, &x) ? std::string() : refusal(v, want);
      },
      "in " + range(lo, hi));
}

CLI::Validator integer_list_in(int64_t lo, int64_t hi) {
  const std::string want = "a comma-separated list of integers in " + range(lo, hi);
  return CLI::Validator(
      [lo, hi, want](std::string& v) {
        int64_t x = 0;
        for (const std::string& p : pieces(v))
          if (!parse_integer(p, lo, hi, &x)) return refusal(v, want);
        return std::string();
      },
      "list, each in " + range(lo, hi));
}

std::vector<int64_t> integer_list(const std::string& text) {
  std::vector<int64_t> out;
  for (const std::string& p : pieces(text)) {
    int64_t x = 0;
    if (!parse_integer(p, INT64_MIN, INT64_MAX, &x)) bad_argument("list", text, "a list of integers");
    out.push_back(x);
  }
  return out;
}

CLI::Validator fraction_below_one() {
  return CLI::Validator(
      [](std::string& v) {
        char* end = nullptr;
        const double x = v.empty() ? NAN : std::strtod(v.c_str(), &end);
        // Written so that NaN fails too; 1.0 would leave nothing to multiply.
        const bool ok = end != nullptr && end != v.c_str() && *end == '\0' && x >= 0.0 && x < 1.0;
        return ok ? std::string() : refusal(v, "a number in [0, 1)");
      },
      "in [0, 1)");
}

CLI::Validator one_of(std::initializer_list<const char*> words, const std::string& want) {
  const std::vector<std::string> allowed(words.begin(), words.end());
  std::string names;
  for (const std::string& w : allowed) names += (names.empty() ? "" : "|") + w;
  return CLI::Validator(
      [allowed, want](std::string& v) {
        for (const std::string& w : allowed)
          if (v == w) return std::string();
        return refusal(v, want);
      },
      names);
}

CLI::Validator backend_names() { return one_of({"host", "cuda", "auto"}, "host, cuda or auto"); }

spinfer_backend_t backend_from(const std::string& name) {
  if (name == "host") return SPINFER_BACKEND_HOST;
  if (name == "cuda") return SPINFER_BACKEND_CUDA;
  return SPINFER_BACKEND_AUTO;
}

}  // namespace spinfer_tool
