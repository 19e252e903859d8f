#include "ttft_plan.hpp"

#include <algorithm>

namespace bench {

int TtftPlan::max_prompt() const {
  int m = 0;
  for (const TtftCell& c : cells) m = std::max(m, c.prompt);
  return m;
}

int TtftPlan::max_batch() const {
  int m = 0;
  for (const TtftCell& c : cells) m = std::max(m, c.batch);
  return m;
}

int64_t TtftPlan::kv_blocks() const {
  return int64_t(max_batch()) * ((int64_t(max_prompt()) + kv_block - 1) / kv_block);
}

int64_t TtftPlan::tokens_per_mode() const {
  int64_t t = 0;
  for (const TtftCell& c : cells) t += int64_t(c.prompt) * c.batch;
  return t * (reps + warmups);
}

TtftPlan make_ttft_plan(const Options& o) {
  TtftPlan p;
  const std::vector<int> prompts =
      !o.prompts.empty() ? o.prompts : o.quick ? std::vector<int>{512} : std::vector<int>{128, 512, 2048};
  const std::vector<int> batches = !o.batches.empty() ? o.batches : std::vector<int>{1, 8};
  for (int prompt : prompts)
    for (int batch : batches) p.cells.push_back({prompt, batch});
  p.sparsities = !o.sparsities.empty() ? o.sparsities : o.quick ? std::vector<double>{0.6}
                                                                 : std::vector<double>{0.5, 0.6, 0.7};
  p.layers = o.model_layers;
  p.reps = o.reps ? o.reps : o.quick ? 5 : 7;
  return p;
}

}  // namespace bench
