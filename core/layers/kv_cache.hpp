// Paged key/value cache: a pool of fixed-size blocks shared by every sequence slot,
// block tables kept on the host (allocation) and mirrored per step to the backend.
#pragma once

#include <cstdint>
#include <vector>

#include "layers/backend.hpp"

namespace spinfer::layers {

struct KvCacheConfig {
  int num_layers = 0, num_kv_heads = 0, head_dim = 0;
  int block_size = 16;
  int64_t num_blocks = 0;
  int max_sequences = 8;
  int64_t max_sequence_length = 4096;
  DType dtype = DType::f16;
};

class KvCache {
 public:
  // Validates `config` (INVALID_ARGUMENT naming the field) and allocates the pools.
  KvCache(Backend& backend, const KvCacheConfig& config);

  // Reserves room for new_tokens[i] tokens of sequence seq_ids[i], grows the lengths,
  // and uploads the step layout. All-or-nothing: on failure nothing changes.
  void begin_step(const int32_t* seq_ids, const int32_t* new_tokens, int32_t count, void* stream);

  // Sizes the step arrays for steps of up to `max_tokens` tokens once, so their
  // addresses stay fixed afterwards (a larger step reallocates them).
  void reserve_steps(int64_t max_tokens);
  const StepLayout& step() const;  // throws when no step was begun
  bool has_step() const { return step_.num_seqs > 0; }
  KvLayer layer(int index) const;
  int64_t length(int32_t seq) const;
  void release(int32_t seq);
  // Shortens `seq` to its first `length` tokens (at most its length now) and returns the
  // blocks it no longer needs to the pool: undoes the steps of a call that failed.
  // Truncating in the reverse order of the steps restores the pool's block order too.
  void truncate(int32_t seq, int64_t length);
  int64_t free_blocks() const { return int64_t(free_.size()); }
  const KvCacheConfig& config() const { return config_; }
  uint64_t pool_bytes() const { return uint64_t(pool_.bytes()); }
  // Host copies of the current step's token positions and per-sequence token ranges.
  const std::vector<int32_t>& step_positions() const { return h_pos_; }
  const std::vector<int32_t>& step_query_start() const { return h_qstart_; }

 private:
  void check_seq(int32_t seq) const;

  Backend& backend_;
  KvCacheConfig config_;
  int max_blocks_per_seq_ = 0;
  Buffer pool_;      // [layers][2][num_blocks][block_size][kv_heads][head_dim]
  Buffer metadata_;  // step layout arrays (see begin_step)
  int64_t max_step_tokens_ = 0;
  std::vector<std::vector<int32_t>> blocks_;  // per slot: its physical blocks
  std::vector<int64_t> lengths_;
  std::vector<int32_t> free_;  // stack of unused blocks
  std::vector<int32_t> h_pos_, h_seq_, h_qstart_, h_len_, h_table_;
  StepLayout step_;
};

}  // namespace spinfer::layers
