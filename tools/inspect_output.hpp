// `spinfer inspect`'s output: a table per file with totals, or the same as JSON.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "inspect_model.hpp"
#include "inspect_scan.hpp"

namespace spinfer_tool {

// Sums over every tensor of every file.
struct InspectTotals {
  int64_t tensors = 0, matrices = 0, errors = 0;
  uint64_t stored_bytes = 0;      // as the files store them
  uint64_t dense_fp16_bytes = 0;  // every tensor dense, 2 bytes per element
  uint64_t projected_bytes = 0;   // matrices encoded, dense 2-D float tensors encoded where
                                  // that is smaller, everything else 2 bytes per element
};

InspectTotals sum_reports(const std::vector<FileReport>& files);

// `model` is null when the input is not a model directory.
void print_text(const std::vector<FileReport>& files, const ModelReport* model);
void print_json(const std::string& input, const std::vector<FileReport>& files, const ModelReport* model);

// One line on stderr per failure ("spinfer inspect: FILE: TENSOR: message"); their count.
int print_errors(const std::vector<FileReport>& files, const ModelReport* model);

}  // namespace spinfer_tool
