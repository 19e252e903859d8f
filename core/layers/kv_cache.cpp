#include "layers/kv_cache.hpp"

#include <algorithm>
#include <string>

#include "common/error.hpp"

namespace spinfer::layers {
namespace {

void field(bool ok, const char* what) {
  require(ok, SPINFER_STATUS_INVALID_ARGUMENT, [&] { return std::string("KV cache config: ") + what; });
}

}  // namespace

KvCache::KvCache(Backend& backend, const KvCacheConfig& c) : backend_(backend), config_(c) {
  field(c.num_layers >= 1, "num_layers must be >= 1");
  field(c.num_kv_heads >= 1, "num_kv_heads must be >= 1");
  field(c.head_dim >= 2 && c.head_dim <= 256 && c.head_dim % 2 == 0,
        "head_dim must be even and in [2, 256]");
  field(c.block_size >= 1 && c.block_size <= 1024, "block_size must be in [1, 1024]");
  field(c.num_blocks >= 1 && c.num_blocks < (int64_t(1) << 31), "num_blocks must be in [1, 2^31)");
  field(c.max_sequences >= 1 && c.max_sequences <= 65536, "max_sequences must be in [1, 65536]");
  field(c.max_sequence_length >= 1 && c.max_sequence_length < (int64_t(1) << 31),
        "max_sequence_length must be in [1, 2^31)");
  require(is_valid(c.dtype), SPINFER_STATUS_UNSUPPORTED_DTYPE, "KV cache dtype is unknown");
  require(!backend.is_cuda() || c.dtype == backend.act_dtype(), SPINFER_STATUS_UNSUPPORTED_DTYPE, [&] {
    return std::string("a CUDA KV cache must store the activation dtype ") + dtype_name(backend.act_dtype());
  });

  max_blocks_per_seq_ = int(ceil_div(c.max_sequence_length, c.block_size));
  // The pool size in 128 bits: large layer / head counts must not wrap it to a small
  // buffer that the step then writes past.
  const unsigned __int128 pool_bytes = (unsigned __int128)uint64_t(c.num_blocks) * uint64_t(c.block_size) *
                                       uint64_t(c.num_kv_heads) * uint64_t(c.head_dim) * dtype_size(c.dtype) *
                                       2u * uint64_t(c.num_layers);
  require(pool_bytes <= (unsigned __int128)1 << 62, SPINFER_STATUS_INVALID_ARGUMENT,
          "KV cache config: the pool would exceed 2^62 bytes");
  const uint64_t per_layer = uint64_t(c.num_blocks) * uint64_t(c.block_size) *
                             uint64_t(c.num_kv_heads) * uint64_t(c.head_dim) * dtype_size(c.dtype);
  pool_ = Buffer(backend, per_layer * 2 * uint64_t(c.num_layers));
  blocks_.resize(size_t(c.max_sequences));
  lengths_.assign(size_t(c.max_sequences), 0);
  free_.reserve(size_t(c.num_blocks));
  for (int64_t b = c.num_blocks - 1; b >= 0; --b) free_.push_back(int32_t(b));
}

void KvCache::check_seq(int32_t seq) const {
  require(seq >= 0 && seq < config_.max_sequences, SPINFER_STATUS_INVALID_ARGUMENT, [&] {
    return "sequence " + std::to_string(seq) + " is outside the cache's slots [0, " +
           std::to_string(config_.max_sequences) + ")";
  });
}

void KvCache::begin_step(const int32_t* seq_ids, const int32_t* new_tokens, int32_t count,
                         void* stream) {
  require(seq_ids && new_tokens, SPINFER_STATUS_INVALID_ARGUMENT, "seq_ids or new_tokens is NULL");
  require(count >= 1 && count <= config_.max_sequences, SPINFER_STATUS_INVALID_ARGUMENT,
          [&] { return "step sequence count " + std::to_string(count) + " must be in [1, max_sequences]"; });
  std::vector<char> seen(size_t(config_.max_sequences), 0);
  int64_t total = 0, needed_blocks = 0;
  bool decode = true;
  for (int32_t i = 0; i < count; ++i) {
    check_seq(seq_ids[i]);
    require(!seen[size_t(seq_ids[i])], SPINFER_STATUS_INVALID_ARGUMENT,
            [&] { return "sequence " + std::to_string(seq_ids[i]) + " appears twice in one step"; });
    seen[size_t(seq_ids[i])] = 1;
    require(new_tokens[i] >= 1, SPINFER_STATUS_INVALID_ARGUMENT,
            [&] { return "new_tokens[" + std::to_string(i) + "] must be >= 1"; });
    const int64_t len = lengths_[size_t(seq_ids[i])] + new_tokens[i];
    require(len <= config_.max_sequence_length, SPINFER_STATUS_INVALID_ARGUMENT, [&] {
      return "sequence " + std::to_string(seq_ids[i]) + " would reach " + std::to_string(len) +
             " tokens, more than max_sequence_length " + std::to_string(config_.max_sequence_length);
    });
    needed_blocks += ceil_div(len, config_.block_size) - int64_t(blocks_[size_t(seq_ids[i])].size());
    // Room for the block table now, so the commit below cannot fail half-way.
    blocks_[size_t(seq_ids[i])].reserve(size_t(ceil_div(len, config_.block_size)));
    total += new_tokens[i];
    decode = decode && new_tokens[i] == 1;
  }
  require(needed_blocks <= int64_t(free_.size()), SPINFER_STATUS_OUT_OF_MEMORY, [&] {
    return "KV cache is full: the step needs " + std::to_string(needed_blocks) + " more blocks but only " +
           std::to_string(free_.size()) + " are free";
  });

  if (total > max_step_tokens_) reserve_steps(total);  // before any change: may throw
  std::vector<int32_t> packed(metadata_.bytes() / 4, 0);  // likewise

  // Commit: take blocks, grow lengths, build the host layout.
  h_pos_.resize(size_t(total));
  h_seq_.resize(size_t(total));
  h_qstart_.assign(size_t(count) + 1, 0);
  h_len_.resize(size_t(count));
  h_table_.assign(size_t(count) * size_t(max_blocks_per_seq_), 0);
  int64_t t = 0;
  for (int32_t i = 0; i < count; ++i) {
    const size_t s = size_t(seq_ids[i]);
    const int64_t start = lengths_[s];
    lengths_[s] += new_tokens[i];
    while (int64_t(blocks_[s].size()) < ceil_div(lengths_[s], config_.block_size)) {
      blocks_[s].push_back(free_.back());
      free_.pop_back();
    }
    for (int32_t j = 0; j < new_tokens[i]; ++j, ++t) {
      h_pos_[size_t(t)] = int32_t(start + j);
      h_seq_[size_t(t)] = i;
    }
    h_qstart_[size_t(i) + 1] = int32_t(t);
    h_len_[size_t(i)] = int32_t(lengths_[s]);
    std::copy(blocks_[s].begin(), blocks_[s].end(), h_table_.begin() + ptrdiff_t(i) * max_blocks_per_seq_);
  }

  // Backend arrays at fixed offsets inside one buffer, so a step of the same shape
  // always uses the same addresses (CUDA graphs replay with captured pointers).
  const size_t cap_t = size_t(max_step_tokens_), cap_s = size_t(config_.max_sequences);
  std::copy(h_pos_.begin(), h_pos_.end(), packed.begin());
  std::copy(h_seq_.begin(), h_seq_.end(), packed.begin() + ptrdiff_t(cap_t));
  std::copy(h_qstart_.begin(), h_qstart_.end(), packed.begin() + ptrdiff_t(2 * cap_t));
  std::copy(h_len_.begin(), h_len_.end(), packed.begin() + ptrdiff_t(2 * cap_t + cap_s + 1));
  std::copy(h_table_.begin(), h_table_.end(), packed.begin() + ptrdiff_t(2 * cap_t + 2 * cap_s + 1));
  const size_t used = 2 * cap_t + 2 * cap_s + 1 + size_t(count) * size_t(max_blocks_per_seq_);
  backend_.copy_from_host(metadata_.get(), packed.data(), used * 4, stream);

  const int32_t* base = metadata_.as<int32_t>();
  step_ = StepLayout{};
  step_.num_seqs = count;
  step_.num_tokens = total;
  step_.token_pos = base;
  step_.token_seq = base + cap_t;
  step_.query_start = base + 2 * cap_t;
  step_.seq_len = base + 2 * cap_t + cap_s + 1;
  step_.block_table = base + 2 * cap_t + 2 * cap_s + 1;
  step_.max_blocks_per_seq = max_blocks_per_seq_;
  step_.block_size = config_.block_size;
  step_.max_seq_len = config_.max_sequence_length;
  step_.decode = decode;
  int32_t most = 0;
  for (int32_t i = 0; i < count; ++i) most = std::max(most, new_tokens[i]);
  step_.max_query_tokens = most;
}

void KvCache::reserve_steps(int64_t max_tokens) {
  require(max_tokens >= 1, SPINFER_STATUS_INVALID_ARGUMENT, "reserve_steps needs max_tokens >= 1");
  // Allocate first, then commit: if the allocation fails, capacity and buffer still agree.
  const int64_t tokens = std::max(max_step_tokens_, max_tokens);
  const size_t ints = 2 * size_t(tokens) + 2 * size_t(config_.max_sequences) + 1 +
                      size_t(config_.max_sequences) * size_t(max_blocks_per_seq_);
  Buffer grown(backend_, ints * 4);
  metadata_ = std::move(grown);
  max_step_tokens_ = tokens;
  step_ = StepLayout{};
}

const StepLayout& KvCache::step() const {
  require(step_.num_seqs > 0, SPINFER_STATUS_INVALID_ARGUMENT,
          "no KV cache step has begun: call spinfer_kv_cache_begin_step first");
  return step_;
}

KvLayer KvCache::layer(int index) const {
  require(index >= 0 && index < config_.num_layers, SPINFER_STATUS_INVALID_ARGUMENT, [&] {
    return "layer index " + std::to_string(index) + " is outside the cache's " +
           std::to_string(config_.num_layers) + " layers";
  });
  const uint64_t per_pool = uint64_t(config_.num_blocks) * uint64_t(config_.block_size) *
                            uint64_t(config_.num_kv_heads) * uint64_t(config_.head_dim) *
                            dtype_size(config_.dtype);
  auto* base = static_cast<unsigned char*>(pool_.get()) + per_pool * 2 * uint64_t(index);
  KvLayer l;
  l.k = base;
  l.v = base + per_pool;
  l.dtype = config_.dtype;
  l.kv_heads = config_.num_kv_heads;
  l.head_dim = config_.head_dim;
  return l;
}

int64_t KvCache::length(int32_t seq) const {
  check_seq(seq);
  return lengths_[size_t(seq)];
}

void KvCache::release(int32_t seq) {
  check_seq(seq);
  for (int32_t b : blocks_[size_t(seq)]) free_.push_back(b);
  blocks_[size_t(seq)].clear();
  lengths_[size_t(seq)] = 0;
  step_ = StepLayout{};  // the step's layout may name this sequence's blocks
}

void KvCache::truncate(int32_t seq, int64_t length) {
  check_seq(seq);
  require(length >= 0 && length <= lengths_[size_t(seq)], SPINFER_STATUS_INVALID_ARGUMENT, [&] {
    return "cannot truncate sequence " + std::to_string(seq) + " of " +
           std::to_string(lengths_[size_t(seq)]) + " tokens to " + std::to_string(length);
  });
  // free_ was reserved for every block, so these push_backs never allocate.
  std::vector<int32_t>& blocks = blocks_[size_t(seq)];
  while (int64_t(blocks.size()) > ceil_div(length, config_.block_size)) {
    free_.push_back(blocks.back());
    blocks.pop_back();
  }
  lengths_[size_t(seq)] = length;
  step_ = StepLayout{};  // the step's layout may name the returned blocks
}

}  // namespace spinfer::layers
