// Tables and target lines of the time-to-first-token sweep (no CUDA: tested on the CPU
// with made-up timings).
#pragma once

#include <string>
#include <vector>

#include "ttft_plan.hpp"

namespace bench {

// Sparse TTFT over dense TTFT that the issue asks for at most (#14, point 2).
inline constexpr double kTtftTarget = 1.05;

struct TtftResults {
  std::vector<std::vector<double>> ms;  // [mode][cell] median TTFT; NaN = not measured
  std::vector<std::string> errors;      // why a mode or cell was not measured
};

// "dense" for sparsity < 0, else the percentage of zeros ("60%", "55.5%").
std::string sparsity_label(double sparsity);

// Title and how the numbers were taken: printed before the sweep runs.
std::string ttft_header(const TtftPlan& plan);
// The markdown table: one row per cell; per mode ms, ms per layer, and for sparse modes
// the ratio to dense (dense first).
std::string ttft_table(const TtftPlan& plan, const TtftResults& r);
// The same numbers, one CSV row per (cell, mode), with a header row.
std::string ttft_csv(const TtftPlan& plan, const TtftResults& r);
// "TARGET TTFT ..." lines: each sparse mode and cell against kTtftTarget.
std::vector<std::string> ttft_targets(const TtftPlan& plan, const TtftResults& r);

}  // namespace bench
