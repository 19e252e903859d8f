// libFuzzer target: a model directory from the input -- config.json and two
// .safetensors files -- through spinfer_model_load, and, when it loads, a short run
// (get_info, prefill, decode_step, sequence_length, release, generate_greedy). Whatever the bytes, every call returns a
// real status with a message (never INTERNAL_ERROR), a failed load leaves *out NULL,
// nothing reads out of bounds or leaks.
//
// Input layout: [u16 LE n1][n1 bytes config.json][u16 LE n2][n2 bytes a.safetensors]
// [the rest: b.safetensors]; a part cut short by the end of the input is shortened; an
// empty safetensors part is not written (a missing file). The files go to a directory
// on tmpfs (/dev/shm when present), rewritten each run.
//
// Seeds: `SPINFER_FUZZ_WRITE_SEEDS=<dir> fuzz_model_load` writes tiny OPT / LLaMA
// models (encoded and dense linear weights) in this layout to <dir> and exits
// (fuzz/corpus/model_load holds them).
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "format/encode.hpp"
#include "fuzz_common.hpp"
#include "io/matrix_file.hpp"
#include "io/safetensors.hpp"

using namespace spinfer::fuzz;
namespace fs = std::filesystem;

namespace {

std::string g_dir;  // the per-process model directory

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  if (!f) fail("cannot write the fuzz model directory");
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Takes a u16-length-prefixed part from [p, end).
std::pair<const uint8_t*, size_t> take(const uint8_t*& p, const uint8_t* end) {
  if (end - p < 2) {
    const uint8_t* at = p;
    p = end;
    return {at, 0};
  }
  size_t n = size_t(p[0]) | size_t(p[1]) << 8;
  p += 2;
  n = std::min(n, size_t(end - p));
  const uint8_t* at = p;
  p += n;
  return {at, n};
}

void put_part(std::vector<uint8_t>& out, const std::vector<uint8_t>& part, bool last) {
  if (!last) {
    out.push_back(uint8_t(part.size() & 0xff));
    out.push_back(uint8_t(part.size() >> 8));
  }
  out.insert(out.end(), part.begin(), part.end());
}

// ---- seeds: tiny models in Hugging Face layout -------------------------------------

void write_seed(const std::string& out_dir, const std::string& name, bool opt, bool encoded) {
  const int64_t V = 8, H = 16, I = 32, kvd = opt ? 16 : 8, P = 16;
  const std::string tmp = g_dir + "/seed";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  std::string cfg = std::string("{\"model_type\":\"") + (opt ? "opt" : "llama") +
                    "\",\"vocab_size\":8,\"hidden_size\":16,\"num_hidden_layers\":1,"
                    "\"num_attention_heads\":2,\"max_position_embeddings\":16,\"torch_dtype\":\"float16\",";
  cfg += opt ? "\"ffn_dim\":32,\"do_layer_norm_before\":true,\"word_embed_proj_dim\":16,"
               "\"activation_function\":\"relu\",\"enable_bias\":true}"
             : "\"intermediate_size\":32,\"num_key_value_heads\":1,\"rms_norm_eps\":1e-6,"
               "\"rope_theta\":10000.0,\"hidden_act\":\"silu\",\"tie_word_embeddings\":false}";
  std::mt19937_64 rng(opt * 2 + encoded);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<std::vector<float>> keep;
  keep.reserve(64);
  std::vector<spinfer::io::TensorToWrite> dense;
  std::vector<spinfer::HostMatrix> mats;
  mats.reserve(16);
  std::vector<std::pair<std::string, const spinfer::HostMatrix*>> mat_list;
  auto add_dense = [&](const std::string& n, std::vector<uint64_t> shape, float lo) {
    uint64_t count = 1;
    for (uint64_t d : shape) count *= d;
    keep.emplace_back(size_t(count));
    for (auto& x : keep.back()) x = lo + std::fabs(value(rng));
    dense.push_back({n, "F32", shape, keep.back().data(), keep.back().size() * 4});
  };
  auto add_matrix = [&](const std::string& n, int64_t rows, int64_t cols) {
    if (!encoded) return add_dense(n, {uint64_t(rows), uint64_t(cols)}, -0.5f);
    std::vector<float> w(size_t(rows * cols));
    for (auto& x : w) x = value(rng) > 0.3f ? value(rng) : 0.0f;
    mats.push_back(spinfer::encode(w.data(), spinfer::DType::f32, rows, cols, cols, spinfer::DType::f16));
    mat_list.push_back({n, &mats.back()});
  };
  const std::string p = opt ? "model.decoder.layers.0." : "model.layers.0.";
  add_matrix(p + "self_attn.q_proj.weight", H, H);
  add_matrix(p + "self_attn.k_proj.weight", kvd, H);
  add_matrix(p + "self_attn.v_proj.weight", kvd, H);
  add_matrix(p + (opt ? "self_attn.out_proj.weight" : "self_attn.o_proj.weight"), H, H);
  if (opt) {
    add_matrix(p + "fc1.weight", I, H);
    add_matrix(p + "fc2.weight", H, I);
    for (const char* b : {"self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias",
                          "self_attn.out_proj.bias", "fc2.bias", "self_attn_layer_norm.weight",
                          "self_attn_layer_norm.bias", "final_layer_norm.weight", "final_layer_norm.bias"})
      add_dense(p + b, {uint64_t(H)}, 0.5f);
    add_dense(p + "fc1.bias", {uint64_t(I)}, 0.0f);
    add_dense("model.decoder.embed_tokens.weight", {uint64_t(V), uint64_t(H)}, -0.5f);
    add_dense("model.decoder.embed_positions.weight", {uint64_t(P + 2), uint64_t(H)}, -0.5f);
    add_dense("model.decoder.final_layer_norm.weight", {uint64_t(H)}, 0.5f);
    add_dense("model.decoder.final_layer_norm.bias", {uint64_t(H)}, 0.0f);
  } else {
    add_matrix(p + "mlp.gate_proj.weight", I, H);
    add_matrix(p + "mlp.up_proj.weight", I, H);
    add_matrix(p + "mlp.down_proj.weight", H, I);
    add_dense(p + "input_layernorm.weight", {uint64_t(H)}, 0.5f);
    add_dense(p + "post_attention_layernorm.weight", {uint64_t(H)}, 0.5f);
    add_dense("model.embed_tokens.weight", {uint64_t(V), uint64_t(H)}, -0.5f);
    add_dense("model.norm.weight", {uint64_t(H)}, 0.5f);
    add_matrix("lm_head.weight", V, H);
  }
  spinfer::io::write_safetensors(tmp + "/a.safetensors", dense, {});
  std::vector<uint8_t> b;
  if (encoded) {
    spinfer::io::save_matrices(tmp + "/b.safetensors", mat_list);
    b = read_file(tmp + "/b.safetensors");
  }
  std::vector<uint8_t> seed;
  put_part(seed, std::vector<uint8_t>(cfg.begin(), cfg.end()), false);
  put_part(seed, read_file(tmp + "/a.safetensors"), false);
  put_part(seed, b, true);
  write_file(out_dir + "/" + name, seed.data(), seed.size());
  fs::remove_all(tmp);
}

void clean_failure(spinfer_status_t s, const char* entry) {
  count(entry, s);
  if (s != SPINFER_STATUS_SUCCESS) {
    if (s == SPINFER_STATUS_INTERNAL_ERROR)
      std::fprintf(stderr, "%s: INTERNAL_ERROR: %s\n", entry, spinfer_last_error_message());
    expect_clean_failure(s, entry);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* shm = "/dev/shm";
  const std::string base = fs::is_directory(shm) ? shm : fs::temp_directory_path().string();
  g_dir = base + "/spinfer_fuzz_model_" + std::to_string(::getpid());
  fs::create_directories(g_dir);
  std::atexit([] { std::error_code ec; fs::remove_all(g_dir, ec); });
  if (const char* out = std::getenv("SPINFER_FUZZ_WRITE_SEEDS")) {
    fs::create_directories(out);
    write_seed(out, "llama_encoded", false, true);
    write_seed(out, "llama_dense", false, false);
    write_seed(out, "opt_encoded", true, true);
    write_seed(out, "opt_dense", true, false);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* p = data;
  const uint8_t* end = data + size;
  const auto config = take(p, end);
  const auto a = take(p, end);
  const std::pair<const uint8_t*, size_t> b{p, size_t(end - p)};
  write_file(g_dir + "/config.json", config.first, config.second);
  const std::string pa = g_dir + "/a.safetensors", pb = g_dir + "/b.safetensors";
  std::error_code ec;
  if (a.second) write_file(pa, a.first, a.second); else fs::remove(pa, ec);
  if (b.second) write_file(pb, b.first, b.second); else fs::remove(pb, ec);

  spinfer_context_t* ctx = nullptr;
  expect(spinfer_context_create(&ctx, SPINFER_BACKEND_HOST) == SPINFER_STATUS_SUCCESS, "host context");
  spinfer_model_config_t mc;
  spinfer_model_config_init(&mc);
  mc.max_sequences = 2;
  mc.max_batch_tokens = 4;
  mc.max_sequence_length = 8;
  mc.kv_block_size = 4;
  mc.kv_num_blocks = 4;
  spinfer_model_t* model = reinterpret_cast<spinfer_model_t*>(1);
  const spinfer_status_t s = spinfer_model_load(ctx, &model, g_dir.c_str(), &mc, nullptr);
  clean_failure(s, "spinfer_model_load");
  if (s != SPINFER_STATUS_SUCCESS) {
    expect(model == nullptr, "failed model_load left a handle");
    spinfer_context_destroy(ctx);
    return 0;
  }
  spinfer_model_info_t info{};
  info.struct_size = sizeof info;
  expect(spinfer_model_get_info(model, &info) == SPINFER_STATUS_SUCCESS, "get_info of a loaded model");
  expect(info.vocab_size >= 1 && info.hidden_size >= 1 && info.num_layers >= 1 && info.num_heads >= 1 &&
             info.num_kv_heads >= 1 && info.num_heads % info.num_kv_heads == 0 && info.head_dim >= 2,
         "loaded model has impossible sizes");
  // A short run with valid tokens: succeeds or fails cleanly (the weights may hold
  // anything, NaN included; only statuses and memory safety are checked).
  // Sequence lengths follow the calls that succeeded: a failed call leaves them as they were.
  int64_t want[2] = {0, 0};
  auto check_lengths = [&] {
    for (int32_t q = 0; q < 2; ++q) {
      int64_t n = -1;
      const spinfer_status_t l = spinfer_model_sequence_length(model, q, &n);
      count("spinfer_model_sequence_length", l);
      expect(l == SPINFER_STATUS_SUCCESS && n == want[q], "sequence length differs from the successful calls");
    }
  };
  std::vector<float> logits(size_t(2 * info.vocab_size), NAN);
  const int32_t tokens[3] = {0, int32_t(info.vocab_size - 1), int32_t(info.vocab_size / 2)};
  spinfer_status_t r = spinfer_model_prefill(ctx, model, 0, tokens, 3, logits.data(), nullptr);
  clean_failure(r, "spinfer_model_prefill");
  if (r == SPINFER_STATUS_SUCCESS) {
    want[0] = 3;
    r = spinfer_model_prefill(ctx, model, 1, tokens + 1, 1, nullptr, nullptr);
    clean_failure(r, "spinfer_model_prefill");
    const int32_t seqs[2] = {0, 1}, next[2] = {1 % int32_t(info.vocab_size), 0};
    if (r == SPINFER_STATUS_SUCCESS) {
      want[1] = 1;
      r = spinfer_model_decode_step(ctx, model, seqs, next, 2, logits.data(), nullptr);
      clean_failure(r, "spinfer_model_decode_step");
      if (r == SPINFER_STATUS_SUCCESS) ++want[0], ++want[1];
    }
  }
  check_lengths();
  // Out-of-range token and sequence: refused, nothing changed.
  const int32_t bad = int32_t(info.vocab_size);
  const spinfer_status_t t = spinfer_model_prefill(ctx, model, 0, &bad, 1, nullptr, nullptr);
  count("spinfer_model_prefill", t);
  expect_clean_failure(t, "prefill with token == vocab_size");
  int64_t unused = 0;
  expect_clean_failure(spinfer_model_sequence_length(model, 2, &unused), "length of slot 2");
  check_lengths();
  expect(spinfer_model_release_sequence(model, 0) == SPINFER_STATUS_SUCCESS, "release");
  expect(spinfer_model_release_sequence(model, 2) == SPINFER_STATUS_INVALID_ARGUMENT, "release of slot 2");
  want[0] = 0;
  // Greedy generation on sequence 0: 2 prompt tokens, up to 4 new ones (the cache holds
  // the prompt and every generated token but the last); tokens in range, or a clean
  // failure that leaves the sequence empty.
  int32_t out[4] = {-1, -1, -1, -1};
  int64_t produced = -1;
  r = spinfer_model_generate_greedy(ctx, model, 0, tokens, 2, 4, int32_t(info.vocab_size / 3), out, &produced,
                                    nullptr);
  clean_failure(r, "spinfer_model_generate_greedy");
  if (r == SPINFER_STATUS_SUCCESS) {
    expect(produced >= 1 && produced <= 4, "generated count out of range");
    for (int64_t i = 0; i < produced; ++i)
      expect(out[i] >= 0 && out[i] < info.vocab_size, "generated token out of range");
    want[0] = 2 + produced - 1;
  }
  check_lengths();
  spinfer_model_destroy(model);
  spinfer_context_destroy(ctx);
  return 0;
}
