// Model conversion (core/convert, spinfer_convert_model) and magnitude pruning
// (core/format/prune): ties, compressed-tensors sparse-bitmask import against a dense
// reference (with an encoder written here, independent of the importer), refusals of
// quantized configs and corrupt compressed tensors, the leave-dense decision, sharded
// output with its index, and the verify step.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "common/error.hpp"
#include "convert/convert.hpp"
#include "convert/convert_job.hpp"
#include "format/encode.hpp"
#include "format/prune.hpp"
#include "io/matrix_file.hpp"
#include "io/safetensors.hpp"
#include "runtime/weight_store.hpp"

using namespace spinfer;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the temporary directory, removed at the end of the test.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag)
      : path(fs::temp_directory_path() / ("spinfer_convert_" + tag + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string str() const { return path.string(); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::vector<float> random_weight(int64_t rows, int64_t cols, double zeros, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<float> w(size_t(rows * cols));
  for (auto& v : w) v = u(rng) < zeros ? 0.0f : normal(rng) + (normal(rng) > 0 ? 0.01f : -0.01f);
  return w;
}

// A tensor to put in a source file, owning its bytes.
struct SrcTensor {
  std::string name, dtype;
  std::vector<uint64_t> shape;
  std::vector<uint8_t> bytes;
};

template <typename T>
SrcTensor tensor_of(const std::string& name, const std::string& dtype, std::vector<uint64_t> shape,
                    const std::vector<T>& data) {
  SrcTensor t{name, dtype, std::move(shape), std::vector<uint8_t>(data.size() * sizeof(T))};
  if (!data.empty()) std::memcpy(t.bytes.data(), data.data(), t.bytes.size());
  return t;
}

void write_file(const std::string& path, const std::vector<SrcTensor>& tensors) {
  std::vector<io::TensorToWrite> out;
  for (const auto& t : tensors) out.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  io::write_safetensors(path, out, {{"format", "pt"}});
}

// compressed-tensors sparse-bitmask encoding of a dense F32 weight, written from the
// format's description (values row by row; bitmask bytes least significant bit first;
// row_offsets the index of each row's first value).
std::vector<SrcTensor> bitmask_encode(const std::string& prefix, const std::vector<float>& w, int64_t rows,
                                      int64_t cols) {
  const int64_t row_bytes = (cols + 7) / 8;
  std::vector<float> values;
  std::vector<uint8_t> mask(size_t(rows * row_bytes), 0);
  std::vector<int64_t> offsets;
  for (int64_t r = 0; r < rows; ++r) {
    offsets.push_back(int64_t(values.size()));
    for (int64_t c = 0; c < cols; ++c) {
      const float v = w[size_t(r * cols + c)];
      if (v == 0.0f) continue;
      values.push_back(v);
      mask[size_t(r * row_bytes + c / 8)] |= uint8_t(1u << (c % 8));
    }
  }
  return {tensor_of(prefix + ".shape", "I64", {2}, std::vector<int64_t>{rows, cols}),
          tensor_of(prefix + ".compressed", "F32", {values.size()}, values),
          tensor_of(prefix + ".bitmask", "U8", {uint64_t(rows), uint64_t(row_bytes)}, mask),
          tensor_of(prefix + ".row_offsets", "I64", {uint64_t(rows)}, offsets)};
}

const char kBitmaskConfig[] =
    R"({"model_type": "llama", "torch_dtype": "float32", "quantization_config": {"quant_method": "compressed-tensors",
       "format": "sparse-bitmask", "config_groups": {}, "sparsity_config": {"format": "sparse-bitmask",
       "targets": ["Linear"], "ignore": ["lm_head"], "sparsity_structure": "unstructured"}}})";

// The dense weight `name` of a converted directory, decoded to floats.
std::vector<float> converted_weight(const std::string& dir, const std::string& name, int64_t rows, int64_t cols,
                                    DType dtype = DType::f16) {
  runtime::WeightStore store(dir);
  const HostMatrix m = store.matrix(name, rows, cols, dtype);
  std::vector<float> out(size_t(rows * cols));
  decode(m, out.data(), DType::f32, cols);
  return out;
}

std::vector<float> rounded(const std::vector<float>& w, DType dtype) {
  std::vector<float> out(w.size());
  for (size_t i = 0; i < w.size(); ++i) out[i] = storage_to_float(float_to_storage(w[i], dtype), dtype);
  return out;
}

spinfer_status_t status_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.status();
  }
  return SPINFER_STATUS_SUCCESS;
}

bool has_safetensors(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors" || e.path().extension() == ".partial") return true;
  return false;
}

}  // namespace

TEST_CASE("magnitude pruning: ties at the threshold are kept, never more than asked is pruned") {
  // 10 entries, 0.5 asks for 5: magnitudes 1 (x6), then 2, 3, 4, 5. The 5th and 6th
  // smallest tie at 1, so a strict threshold prunes none of the ones' tie... only below 1.
  std::vector<float> w = {1, -1, 1, 1, -1, 1, 2, 3, -4, 5};
  CHECK(prune_magnitude(w.data(), 1, 10, 10, 0.5, false) == 0);
  // Ties below the threshold go: 0.5 asks for 5 of {0.5 x4, 1, 1, 2, 3, 4, 5}.
  std::vector<float> v = {0.5f, 1, -0.5f, 2, 0.5f, 3, -0.5f, 4, 1, 5};
  CHECK(prune_magnitude(v.data(), 1, 10, 10, 0.5, false) == 4);
  CHECK(v == std::vector<float>{0, 1, 0, 2, 0, 3, 0, 4, 1, 5});

  // Distinct magnitudes: exactly round(s * n), half to even (2.5 -> 2, 3.5 -> 4).
  std::vector<float> d(10);
  for (int i = 0; i < 10; ++i) d[size_t(i)] = float((i * 7) % 10 + 1) * (i % 2 ? -1.0f : 1.0f);
  auto copy = d;
  CHECK(prune_magnitude(copy.data(), 2, 5, 5, 0.25, false) == 2);
  copy = d;
  CHECK(prune_magnitude(copy.data(), 2, 5, 5, 0.35, false) == 4);
  for (size_t i = 0; i < copy.size(); ++i) CHECK((copy[i] == 0) == (std::fabs(d[i]) <= 4));

  // Per row, with a leading dimension: each row loses its own smallest; padding untouched.
  std::vector<float> rows = {3, 1, 2, 99, -6, 5, 4, 99};
  CHECK(prune_magnitude(rows.data(), 2, 3, 4, 0.34, true) == 2);
  CHECK(rows == std::vector<float>{3, 0, 2, 99, -6, 5, 0, 99});

  // Existing zeros count as pruned; NaN is never pruned; a full cut prunes all but NaN.
  std::vector<float> z = {0, 0, 3, NAN, 1, 2};
  CHECK(prune_magnitude(z.data(), 1, 6, 6, 0.5, false) == 3);
  CHECK(z[2] == 3);
  CHECK(std::isnan(z[3]));
  std::vector<float> all = {1, 2, NAN};
  CHECK(prune_magnitude(all.data(), 1, 3, 3, 0.9, false) == 2);

  for (double bad : {-0.1, 1.0, double(NAN)})
    CHECK(status_of([&] { prune_magnitude(w.data(), 1, 10, 10, bad, false); }) == SPINFER_STATUS_INVALID_ARGUMENT);
}

TEST_CASE("dense checkpoint: matrices keep the zeros or are pruned; an unpruned lm_head stays dense") {
  TempDir src("dense_src"), dst("dense_dst");
  write_text(src / "config.json", R"({"model_type": "llama", "torch_dtype": "float32", "dtype": "float32"})");
  const auto q = random_weight(70, 100, 0.6, 1), up = random_weight(130, 70, 0.0, 2);
  const auto head = random_weight(61, 70, 0.0, 3), norm = random_weight(1, 70, 0.0, 4);
  write_file(src / "model.safetensors",
             {tensor_of("model.layers.0.self_attn.q_proj.weight", "F32", {70, 100}, q),
              tensor_of("model.layers.0.mlp.up_proj.weight", "F32", {130, 70}, up),
              tensor_of("lm_head.weight", "F32", {61, 70}, head), tensor_of("model.norm.weight", "F32", {70}, norm),
              tensor_of("model.extra_ids", "I64", {3}, std::vector<int64_t>{7, 8, 9})});
  convert::ConvertOptions o;
  o.threads = 3;
  std::vector<std::string> notes;
  o.progress = [&](const convert::ConvertProgress& p) {
    notes.push_back(std::string(p.tensor) + ": " + p.note);
    CHECK(p.tensors_done <= p.tensors_total);
    CHECK(p.bytes_done <= p.bytes_total);
  };
  // up_proj is dense (no zeros) and not pruned: it stays dense too, as the LM head does.
  convert::ConvertReport r = convert::convert_model(src.str(), dst.str(), o);
  CHECK(r.tensors == 5);
  CHECK(r.matrices == 1);
  CHECK(r.matrices_dense == 2);
  CHECK(r.shards == 1);
  REQUIRE(notes.size() == 5);
  CHECK(notes[0].find("lm_head.weight: left dense") == 0);
  const auto names = io::list_matrices(dst / "model.safetensors");
  CHECK(names == std::vector<std::string>{"model.layers.0.self_attn.q_proj.weight"});
  CHECK(converted_weight(dst.str(), "model.layers.0.self_attn.q_proj.weight", 70, 100) == rounded(q, DType::f16));
  CHECK(converted_weight(dst.str(), "lm_head.weight", 61, 70) == rounded(head, DType::f16));
  const io::SafetensorsFile out = io::SafetensorsFile::read(dst / "model.safetensors");
  CHECK(out.tensors().at("model.norm.weight").dtype == "F16");
  CHECK(out.tensors().at("model.extra_ids").dtype == "I64");
  std::ifstream cfg(dst / "config.json");
  const auto config = nlohmann::json::parse(cfg);
  CHECK(config["torch_dtype"] == "float16");
  CHECK(!config.contains("dtype"));

  // Pruned to 50 % per row, bf16: up_proj now encodes; the LM head is never pruned.
  o.sparsity = 0.5;
  o.per_row = true;
  o.dtype = DType::bf16;
  r = convert::convert_model(src.str(), dst.str(), o);
  CHECK(r.matrices == 2);
  CHECK(r.matrices_dense == 1);
  auto pruned = up;
  prune_magnitude(pruned.data(), 130, 70, 70, 0.5, true);
  CHECK(converted_weight(dst.str(), "model.layers.0.mlp.up_proj.weight", 130, 70, DType::bf16) ==
        rounded(pruned, DType::bf16));
  CHECK(converted_weight(dst.str(), "lm_head.weight", 61, 70, DType::bf16) == rounded(head, DType::bf16));
}

TEST_CASE("sharded input and output: index written as Hugging Face does, same weights as one file") {
  TempDir src("shard_src"), one("shard_one"), many("shard_many");
  write_text(src / "config.json", R"({"model_type": "llama"})");
  std::vector<SrcTensor> a, b;
  for (int i = 0; i < 4; ++i) {
    const std::string n = "model.layers." + std::to_string(i) + ".mlp.down_proj.weight";
    (i % 2 ? a : b).push_back(tensor_of(n, "F32", {64, 96}, random_weight(64, 96, 0.7, 10 + i)));
  }
  write_file(src / "model-00001-of-00002.safetensors", a);
  write_file(src / "model-00002-of-00002.safetensors", b);
  std::string index = R"({"metadata": {}, "weight_map": {)";
  for (int i = 0; i < 4; ++i)
    index += std::string(i ? "," : "") + "\"model.layers." + std::to_string(i) + ".mlp.down_proj.weight\": \"model-0000" +
             (i % 2 ? "1" : "2") + "-of-00002.safetensors\"";
  write_text(src / "model.safetensors.index.json", index + "}}");
  write_text(src / "stray.safetensors", "not read: the index names the shards");

  convert::ConvertOptions o;
  const convert::ConvertReport r1 = convert::convert_model(src.str(), one.str(), o);
  CHECK(r1.shards == 1);
  o.shard_size = 6000;  // each matrix is ~4.8 kB: one per shard
  const convert::ConvertReport r4 = convert::convert_model(src.str(), many.str(), o);
  CHECK(r4.shards == 4);
  CHECK(r4.bytes_written == r1.bytes_written);
  CHECK(!fs::exists(many / "model.safetensors"));
  std::ifstream in(many / "model.safetensors.index.json");
  const auto idx = nlohmann::json::parse(in);
  CHECK(idx["metadata"]["total_size"] == r4.bytes_written);
  CHECK(idx["weight_map"].size() == 12);
  for (int i = 0; i < 4; ++i) {
    const std::string n = "model.layers." + std::to_string(i) + ".mlp.down_proj.weight";
    const std::string file = idx["weight_map"][n + ".values"];
    CHECK(idx["weight_map"][n + ".bitmaps"] == file);
    CHECK(idx["weight_map"][n + ".group_offsets"] == file);
    CHECK(io::list_matrices(many / file) == std::vector<std::string>{n});
    CHECK(converted_weight(many.str(), n, 64, 96) == converted_weight(one.str(), n, 64, 96));
  }
  // Converting again into the sharded directory with one shard removes the old shards.
  o.shard_size = uint64_t(1) << 30;
  convert::convert_model(src.str(), many.str(), o);
  CHECK(!fs::exists(many / "model-00001-of-00004.safetensors"));
  CHECK(!fs::exists(many / "model.safetensors.index.json"));
  CHECK(fs::exists(many / "model.safetensors"));

  // An index that names a tensor its file lacks is CORRUPT_DATA.
  write_text(src / "model.safetensors.index.json",
             R"({"weight_map": {"ghost.weight": "model-00001-of-00002.safetensors"}})");
  std::string message;
  CHECK(status_of([&] { convert::convert_model(src.str(), one.str(), o); }, &message) ==
        SPINFER_STATUS_CORRUPT_DATA);
  CHECK(message.find("model.layers.1.mlp.down_proj.weight") != std::string::npos);
}

TEST_CASE("compressed-tensors sparse-bitmask weights import into the same matrices as their dense form") {
  TempDir src("ct_src"), dst("ct_dst"), dense_src("ct_dense_src"), dense_dst("ct_dense_dst");
  write_text(src / "config.json", kBitmaskConfig);
  write_text(dense_src / "config.json", R"({"model_type": "llama"})");
  std::vector<SrcTensor> compressed, dense;
  const int64_t shapes[][2] = {{70, 100}, {129, 65}, {64, 64}, {3, 9}};
  for (int i = 0; i < 4; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".self_attn.k_proj";
    const auto [rows, cols] = shapes[i];
    auto w = random_weight(rows, cols, 0.5 + 0.1 * i, 100 + i);
    w[0] = 1e-9f;  // non-zero in F32, zero in F16: not stored, as encode() drops it
    for (auto& t : bitmask_encode(p, w, rows, cols)) compressed.push_back(std::move(t));
    dense.push_back(tensor_of(p + ".weight", "F32", {uint64_t(rows), uint64_t(cols)}, w));
  }
  // An embedding stored compressed stays a dense tensor.
  const auto emb = random_weight(20, 16, 0.5, 7);
  for (auto& t : bitmask_encode("model.embed_tokens", emb, 20, 16)) compressed.push_back(std::move(t));
  dense.push_back(tensor_of("model.embed_tokens.weight", "F32", {20, 16}, emb));
  write_file(src / "model.safetensors", compressed);
  write_file(dense_src / "model.safetensors", dense);

  convert::ConvertOptions o;
  const convert::ConvertReport r = convert::convert_model(src.str(), dst.str(), o);
  CHECK(r.imported == 5);
  CHECK(r.tensors == 5);
  convert::convert_model(dense_src.str(), dense_dst.str(), o);
  const io::SafetensorsFile a = io::SafetensorsFile::read(dst / "model.safetensors");
  const io::SafetensorsFile b = io::SafetensorsFile::read(dense_dst / "model.safetensors");
  REQUIRE(a.tensors().size() == b.tensors().size());
  for (const auto& entry : b.tensors()) {  // no structured binding: INFO captures it (clang 14)
    const std::string& name = entry.first;
    const auto& t = entry.second;
    INFO(name);
    REQUIRE(a.tensors().count(name));
    const auto& u = a.tensors().at(name);
    CHECK(u.shape == t.shape);
    CHECK(std::memcmp(a.data(u), b.data(t), t.end - t.begin) == 0);
  }
  CHECK(a.metadata() == b.metadata());
  std::ifstream cfg(dst / "config.json");
  CHECK(!nlohmann::json::parse(cfg).contains("quantization_config"));

  // With --sparsity the imported weights are pruned like dense ones.
  o.sparsity = 0.8;
  convert::convert_model(src.str(), dst.str(), o);
  convert::convert_model(dense_src.str(), dense_dst.str(), o);
  for (int i = 0; i < 3; ++i) {
    const std::string n = "model.layers." + std::to_string(i) + ".self_attn.k_proj.weight";
    CHECK(converted_weight(dst.str(), n, shapes[i][0], shapes[i][1]) ==
          converted_weight(dense_dst.str(), n, shapes[i][0], shapes[i][1]));
  }
}

TEST_CASE("quantized checkpoints and unknown compression formats are refused, naming them") {
  TempDir src("q_src"), dst("q_dst");
  write_file(src / "model.safetensors", {tensor_of("model.norm.weight", "F32", {2}, std::vector<float>{1, 2})});
  const std::pair<const char*, const char*> cases[] = {
      {R"({"quantization_config": {"quant_method": "gptq", "bits": 4}})", "gptq"},
      {R"({"quantization_config": {"quant_method": "compressed-tensors", "format": "pack-quantized",
           "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int"}}}}})",
       "4-bit int"},
      {R"({"quantization_config": {"quant_method": "compressed-tensors", "format": "float-quantized"}})",
       "float-quantized"},
      {R"({"compression_config": {"sparsity_config": {"format": "sparse-24-bitmask"}}})", "sparse-24-bitmask"},
  };
  for (const auto& c : cases) {
    const char* config = c.first;
    const char* named = c.second;
    INFO(config);
    write_text(src / "config.json", config);
    std::string message;
    CHECK(status_of([&] { convert::convert_model(src.str(), dst.str(), {}); }, &message) ==
          SPINFER_STATUS_NOT_SUPPORTED);
    CHECK(message.find(named) != std::string::npos);
    CHECK(!has_safetensors(dst.str()));
  }
  write_text(src / "config.json", R"({"quantization_config": {"sparsity_config": {"targets": "Linear"}}})");
  CHECK(status_of([&] { convert::convert_model(src.str(), dst.str(), {}); }) == SPINFER_STATUS_CORRUPT_DATA);
}

TEST_CASE("corrupt sparse-bitmask tensors: CORRUPT_DATA naming the problem, no output left") {
  TempDir src("bad_src"), dst("bad_dst");
  write_text(src / "config.json", kBitmaskConfig);
  const std::string p = "model.layers.0.mlp.gate_proj";
  const auto w = random_weight(20, 30, 0.5, 5);
  using Edit = std::function<void(std::vector<SrcTensor>&)>;
  const auto find = [&](std::vector<SrcTensor>& ts, const std::string& suffix) -> SrcTensor& {
    for (auto& t : ts)
      if (t.name == p + suffix) return t;
    throw std::runtime_error("no " + suffix);
  };
  const std::vector<std::tuple<const char*, Edit, const char*>> cases = {
      {"shape with 3 entries",
       [&](auto& ts) { find(ts, ".shape") = tensor_of(p + ".shape", "I64", {3}, std::vector<int64_t>{20, 30, 1}); },
       "2 entries"},
      {"negative dimension",
       [&](auto& ts) { find(ts, ".shape") = tensor_of(p + ".shape", "I64", {2}, std::vector<int64_t>{20, -30}); },
       "outside [1, 2^31]"},
      {"row_offsets out of range",
       [&](auto& ts) {
         auto& t = find(ts, ".row_offsets");
         const int64_t big = int64_t(1) << 40;
         std::memcpy(t.bytes.data() + 8 * 5, &big, 8);
       },
       "row_offsets[5]"},
      {"bitmask of the wrong length",
       [&](auto& ts) {
         find(ts, ".bitmask") = tensor_of(p + ".bitmask", "U8", {20, 3}, std::vector<uint8_t>(60, 0xff));
       },
       "[20, 4]"},
      {"values missing",
       [&](auto& ts) {
         auto& t = find(ts, ".compressed");
         t.bytes.resize(t.bytes.size() - 4);
         t.shape[0] -= 1;
       },
       "holds"},
      {"a part missing", [&](auto& ts) { ts.erase(ts.begin() + 2); }, "has no tensor"},
      {"row_offsets of the wrong dtype",
       [&](auto& ts) { find(ts, ".row_offsets").dtype = "F64"; }, "integer tensor"},
  };
  for (const auto& c : cases) {
    const char* what = std::get<0>(c);
    const Edit& edit = std::get<1>(c);
    const char* named = std::get<2>(c);
    INFO(what);
    auto ts = bitmask_encode(p, w, 20, 30);
    edit(ts);
    ts.push_back(tensor_of("model.norm.weight", "F32", {2}, std::vector<float>{1, 2}));
    write_file(src / "model.safetensors", ts);
    std::string message;
    CHECK(status_of([&] { convert::convert_model(src.str(), dst.str(), {}); }, &message) ==
          SPINFER_STATUS_CORRUPT_DATA);
    CHECK(message.find(named) != std::string::npos);
    CHECK(!has_safetensors(dst.str()));
  }
}

TEST_CASE("verify: a matrix that does not decode to its source is an INTERNAL_ERROR naming the element") {
  const auto w = random_weight(70, 80, 0.5, 9);
  HostMatrix m = encode(w.data(), DType::f32, 70, 80, 80, DType::f16);
  const convert::RowSource source = [&](int64_t row0, int64_t count, float* out) {
    std::copy(w.begin() + row0 * 80, w.begin() + (row0 + count) * 80, out);
  };
  CHECK_NOTHROW(convert::verify_matrix(m, source, "w"));
  m.values[m.group_offsets[2] + 1] ^= 0x0400;  // one exponent bit of a value of GroupTile 2 (rows 64..)
  std::string message;
  CHECK(status_of([&] { convert::verify_matrix(m, source, "w"); }, &message) == SPINFER_STATUS_INTERNAL_ERROR);
  CHECK(message.find("matrix 'w'") != std::string::npos);
  INFO(message);
  CHECK(message.find("element (6") != std::string::npos);  // in rows 64..69
}
