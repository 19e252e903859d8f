// Command line of bench_layers (no CUDA: tested on the CPU by test_bench_ttft.cpp).
//
//   bench_layers [--quick] [--layers-only | --model-only | --ttft] [--reps N]
//                [--sparsities LIST] [--model-layers N]
//                [--prompts LIST] [--batches LIST] [--csv FILE]
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

// Bounds of the values the options accept.
inline constexpr int kMaxPrompt = 16384, kMaxTtftBatch = 64, kMaxModelLayers = 80;

struct Options {
  bool quick = false;
  bool layers = true, model = true, ttft = false;  // sections run
  int reps = 0;                       // 0 = the section's default (layer replays 30, TTFT runs 7)
  std::vector<double> sparsities;     // empty = the defaults (50/60/70 %, --quick 60 %)
  int model_layers = 32;              // layers of the whole-model sections
  std::vector<int> prompts, batches;  // TTFT sweep; empty = defaults
  std::string csv;                    // TTFT rows as CSV to this file ("" = none)
  bool help = false;
};

// A command line bench_layers refuses; what() says why.
struct OptionError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses argv[1..argc); throws OptionError.
Options parse_options(int argc, const char* const* argv);

// The usage text (options and defaults), one option a line.
std::string usage(const char* program);

// Parsers of one option value; `option` names it in the message of the OptionError.
int parse_int(const std::string& option, const std::string& text, int lo, int hi);
std::vector<int> parse_int_list(const std::string& option, const std::string& text, int lo, int hi);
std::vector<double> parse_sparsity_list(const std::string& option, const std::string& text);

}  // namespace bench
