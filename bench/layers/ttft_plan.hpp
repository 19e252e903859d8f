// What the time-to-first-token sweep of bench_layers runs (no CUDA: tested on the CPU).
#pragma once

#include <cstdint>
#include <vector>

#include "bench_options.hpp"

namespace bench {

// One point of the sweep: `batch` sequences of `prompt` tokens each, prefilled.
struct TtftCell {
  int prompt = 0, batch = 0;
};

struct TtftPlan {
  std::vector<TtftCell> cells;     // prompt-major: every batch of the first prompt, then the next
  std::vector<double> sparsities;  // the sparse modes; mode 0 is always dense
  int layers = 32;                 // decoder layers of the model
  int reps = 7, warmups = 2;       // timed and untimed runs per cell
  int kv_block = 16;               // tokens per KV-cache block

  size_t modes() const { return 1 + sparsities.size(); }
  int max_prompt() const;
  int max_batch() const;
  // KV-cache blocks that hold max_batch() sequences of max_prompt() tokens at once.
  int64_t kv_blocks() const;
  // Tokens prefilled per mode, warm-ups included (what the run time grows with).
  int64_t tokens_per_mode() const;
};

// The sweep `o` asks for (o.ttft set): its lists, else the defaults (see usage()).
TtftPlan make_ttft_plan(const Options& o);

}  // namespace bench
