#include "bench_options.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace bench {

namespace {

[[noreturn]] void fail(const std::string& option, const std::string& why) { throw OptionError(option + ": " + why); }

std::vector<std::string> split_commas(const std::string& option, const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) fail(option, "empty item in '" + text + "' (write values separated by commas, e.g. 1,8)");
    items.push_back(item);
    if (comma == std::string::npos) return items;
    start = comma + 1;
  }
}

template <typename T> void require_distinct(const std::string& option, const std::vector<T>& v) {
  for (size_t i = 0; i < v.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (v[i] == v[j]) fail(option, "a value is listed twice");
}

}  // namespace

int parse_int(const std::string& option, const std::string& text, int lo, int hi) {
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (text.empty() || end == s || *end != '\0' || errno == ERANGE || text[0] == '+' ||
      std::isspace(static_cast<unsigned char>(text[0])))
    fail(option, "'" + text + "' is not an integer");
  if (v < lo || v > hi)
    fail(option, std::to_string(v) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return int(v);
}

std::vector<int> parse_int_list(const std::string& option, const std::string& text, int lo, int hi) {
  std::vector<int> out;
  for (const std::string& item : split_commas(option, text)) out.push_back(parse_int(option, item, lo, hi));
  require_distinct(option, out);
  return out;
}

std::vector<double> parse_sparsity_list(const std::string& option, const std::string& text) {
  std::vector<double> out;
  for (const std::string& item : split_commas(option, text)) {
    const char* s = item.c_str();
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !std::isfinite(v) ||
        std::isspace(static_cast<unsigned char>(item[0])))
      fail(option, "'" + item + "' is not a number (write a fraction of zeros, e.g. 0.6)");
    if (v < 0.01 || v > 0.99)
      fail(option, item + " is outside [0.01, 0.99] (a fraction of zeros, not a percentage; dense is always run)");
    out.push_back(v);
  }
  require_distinct(option, out);
  return out;
}

Options parse_options(int argc, const char* const* argv) {
  Options o;
  bool layers_only = false, model_only = false, layers_set = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(a, "needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") o.help = true;
    else if (a == "--quick") o.quick = true;
    else if (a == "--layers-only") layers_only = true;
    else if (a == "--model-only") model_only = true;
    else if (a == "--ttft") o.ttft = true;
    else if (a == "--reps") o.reps = parse_int(a, value(), 3, 10000);
    else if (a == "--sparsities") o.sparsities = parse_sparsity_list(a, value());
    else if (a == "--model-layers") {
      o.model_layers = parse_int(a, value(), 1, kMaxModelLayers);
      layers_set = true;
    } else if (a == "--prompts") o.prompts = parse_int_list(a, value(), 1, kMaxPrompt);
    else if (a == "--batches") o.batches = parse_int_list(a, value(), 1, kMaxTtftBatch);
    else if (a == "--csv") {
      o.csv = value();
      if (o.csv.empty()) fail(a, "needs a file name");
    } else {
      throw OptionError("unknown option '" + a + "'");
    }
  }
  if (int(layers_only) + int(model_only) + int(o.ttft) > 1)
    throw OptionError("--layers-only, --model-only and --ttft each choose the sections run: give at most one");
  if (!o.ttft && (!o.prompts.empty() || !o.batches.empty() || !o.csv.empty()))
    throw OptionError("--prompts, --batches and --csv set the TTFT sweep: add --ttft");
  if (layers_only && layers_set)
    throw OptionError("--model-layers sets the whole-model sections, which --layers-only skips");
  if (o.ttft) o.layers = o.model = false;
  if (layers_only) o.model = false;
  if (model_only) o.layers = false;
  return o;
}

std::string usage(const char* program) {
  std::string u = std::string("usage: ") + program +
                  " [--quick] [--layers-only | --model-only | --ttft] [--reps N]\n"
                  "       [--sparsities LIST] [--model-layers N] [--prompts LIST] [--batches LIST] [--csv FILE]\n\n";
  u += "  (default)          decoder-layer decode steps, then whole-model decode tokens/s\n";
  u += "  --quick            a smaller grid of whichever sections run\n";
  u += "  --layers-only      only the decoder-layer section\n";
  u += "  --model-only       only the whole-model decode section\n";
  u += "  --ttft             only the time-to-first-token sweep (whole model, prefill + LM head)\n";
  u += "  --reps N           timed runs per point, N >= 3 (default: 30 layer replays; 7 TTFT runs, --quick 5)\n";
  u += "  --sparsities LIST  sparse levels beside dense, fractions of zeros (default 0.5,0.6,0.7; --quick 0.6)\n";
  u += "  --model-layers N   decoder layers of the whole-model sections, 1.." + std::to_string(kMaxModelLayers) +
       " (default 32)\n";
  u += "  --prompts LIST     TTFT prompt lengths, 1.." + std::to_string(kMaxPrompt) +
       " (default 128,512,2048; --quick 512)\n";
  u += "  --batches LIST     TTFT sequences prefilled per point, 1.." + std::to_string(kMaxTtftBatch) +
       " (default 1,8)\n";
  u += "  --csv FILE         also write the TTFT rows as CSV to FILE\n";
  return u;
}

}  // namespace bench
