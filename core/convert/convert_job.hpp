// One unit of conversion work and what it produces (see convert.hpp for the map).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "convert/checkpoint.hpp"
#include "convert/convert.hpp"
#include "convert/shard_writer.hpp"

namespace spinfer::convert {

struct Job {
  enum class Kind { matrix, dense, copy } kind = Kind::copy;
  std::string name;               // output name
  TensorRef source;               // the tensor (dense jobs), or NAME.compressed
  bool bitmask = false;           // source is a compressed-tensors sparse-bitmask weight
  TensorRef shape, bitmask_bits, row_offsets;  // its other tensors
  std::string prefix;             // its prefix, for messages
  bool prune = false;             // prune by magnitude first (linear weights only)
  bool linear = false;            // counts in the linear sparsity of the report
  uint64_t source_bytes = 0;
};

struct JobResult {
  std::unique_ptr<OutputUnit> unit;
  std::string note;
  bool matrix = false, left_dense = false;
  int64_t nnz = 0, elements = 0;
};

// Fills rows [row0, row0 + count) of a source weight as floats ([count, cols]).
using RowSource = std::function<void(int64_t row0, int64_t count, float* out)>;

// Decodes `m` a GroupTile row at a time and compares it with `source` rounded to m's
// storage dtype: INTERNAL_ERROR naming matrix `name` and the first element that differs.
void verify_matrix(const HostMatrix& m, const RowSource& source, const std::string& name);

// Runs one job. CORRUPT_DATA for a malformed source tensor; INTERNAL_ERROR when the
// encoded matrix does not decode back to the source (options.verify).
JobResult run_job(const Job& job, const ConvertOptions& options);

}  // namespace spinfer::convert
