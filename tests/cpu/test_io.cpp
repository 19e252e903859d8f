// safetensors files: round trips, several matrices per file, and corrupt input.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "format/encode.hpp"
#include "io/matrix_file.hpp"
#include "io/safetensors.hpp"
#include "runtime/weight_store.hpp"
#include "test_util.hpp"

using namespace spinfer;

namespace {

std::string temp_path(const std::string& tag) {
  return (std::filesystem::temp_directory_path() / ("spinfer_test_" + tag + "_" +
                                                    std::to_string(::getpid()) + ".safetensors")).string();
}

HostMatrix sample(int64_t rows, int64_t cols, double sparsity, DType dt, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto d = test::random_sparse(rows, cols, cols, sparsity, rng);
  return encode(d.data(), DType::f32, rows, cols, cols, dt);
}

bool same(const HostMatrix& a, const HostMatrix& b) {
  return a.rows == b.rows && a.cols == b.cols && a.dtype == b.dtype && a.nnz == b.nnz &&
         a.values == b.values && a.bitmaps == b.bitmaps && a.group_offsets == b.group_offsets;
}

std::vector<uint8_t> read_bytes(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void write_bytes(const std::string& p, const std::vector<uint8_t>& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

spinfer_status_t load_status(const std::string& path, const std::string& name = "") {
  try {
    io::load_matrix(path, name);
  } catch (const Error& e) {
    return e.status();
  }
  return SPINFER_STATUS_SUCCESS;
}

// Rewrites the JSON header of a file with `edit` and returns the new path.
template <typename Edit>
std::string with_header(const std::string& src, const std::string& tag, Edit edit) {
  auto bytes = read_bytes(src);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[size_t(i)];
  auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + std::ptrdiff_t(n));
  edit(header);
  std::string text = header.dump();
  std::vector<uint8_t> out(8);
  for (int i = 0; i < 8; ++i) out[size_t(i)] = uint8_t(uint64_t(text.size()) >> (8 * i));
  out.insert(out.end(), text.begin(), text.end());
  out.insert(out.end(), bytes.begin() + 8 + std::ptrdiff_t(n), bytes.end());
  const std::string p = temp_path(tag);
  write_bytes(p, out);
  return p;
}

}  // namespace

TEST_CASE("save and load several matrices in one file") {
  const HostMatrix a = sample(100, 300, 0.5, DType::f16, 1);
  const HostMatrix b = sample(7, 13, 0.3, DType::bf16, 2);
  const std::string p = temp_path("multi");
  io::save_matrices(p, {{"layer0.fc1", &a}, {"layer0.fc2", &b}});
  CHECK(io::list_matrices(p) == std::vector<std::string>{"layer0.fc1", "layer0.fc2"});
  CHECK(same(io::load_matrix(p, "layer0.fc1"), a));
  CHECK(same(io::load_matrix(p, "layer0.fc2"), b));
  CHECK(load_status(p) == SPINFER_STATUS_INVALID_ARGUMENT);  // ambiguous: two matrices
  CHECK(load_status(p, "nope") == SPINFER_STATUS_NOT_FOUND);
  std::remove(p.c_str());
}

TEST_CASE("save rejects bad names") {
  const HostMatrix a = sample(8, 8, 0.5, DType::f16, 3);
  auto status_of = [](auto&& f) {
    try { f(); } catch (const Error& e) { return e.status(); }
    return SPINFER_STATUS_SUCCESS;
  };
  const std::string p = temp_path("names");
  CHECK(status_of([&] { io::save_matrices(p, {{"", &a}}); }) == SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(status_of([&] { io::save_matrices(p, {{"x", &a}, {"x", &a}}); }) == SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(status_of([&] { io::save_matrices("/nonexistent-dir/x.safetensors", {{"x", &a}}); }) == SPINFER_STATUS_IO_ERROR);
  CHECK(status_of([&] { io::load_matrix("/nonexistent-dir/x.safetensors", ""); }) == SPINFER_STATUS_IO_ERROR);
}

TEST_CASE("corrupt and truncated files give a status, never a crash") {
  const HostMatrix a = sample(70, 90, 0.5, DType::f16, 4);
  const std::string p = temp_path("good");
  io::save_matrices(p, {{"w", &a}});
  REQUIRE(load_status(p) == SPINFER_STATUS_SUCCESS);
  const auto bytes = read_bytes(p);
  const auto C = SPINFER_STATUS_CORRUPT_DATA;

  // Every truncation point fails cleanly.
  const std::string t = temp_path("trunc");
  for (size_t len = 0; len < bytes.size(); len += (len < 300 ? 1 : 97)) {
    write_bytes(t, std::vector<uint8_t>(bytes.begin(), bytes.begin() + std::ptrdiff_t(len)));
    CHECK_MESSAGE(load_status(t) == C, "truncated to " << len);
    // Listing reads only the header, but still checks it against the file's size.
    spinfer_status_t list_status = SPINFER_STATUS_SUCCESS;
    try {
      io::list_matrices(t);
    } catch (const Error& e) {
      list_status = e.status();
    }
    CHECK_MESSAGE(list_status == C, "listing, truncated to " << len);
  }
  // Random byte flips never crash; flips inside the data are caught by the validator
  // unless they happen to produce another valid matrix.
  std::mt19937 rng(1);
  for (int i = 0; i < 300; ++i) {
    auto b = bytes;
    b[rng() % b.size()] ^= uint8_t(1u << (rng() % 8));
    write_bytes(t, b);
    const auto s = load_status(t);
    CHECK((s == SPINFER_STATUS_SUCCESS || s == C || s == SPINFER_STATUS_NOT_FOUND ||
           s == SPINFER_STATUS_UNSUPPORTED_VERSION || s == SPINFER_STATUS_INVALID_ARGUMENT));
  }
  std::remove(t.c_str());

  using nlohmann::json;
  auto meta = [](json& h) { return json::parse(h["__metadata__"]["spinfer.matrix.w"].get<std::string>()); };
  auto set_meta = [](json& h, const json& m) { h["__metadata__"]["spinfer.matrix.w"] = m.dump(); };
  struct Case { const char* tag; spinfer_status_t status; std::function<void(json&)> edit; };
  const std::vector<Case> cases = {
      {"version", SPINFER_STATUS_UNSUPPORTED_VERSION, [&](json& h) { auto m = meta(h); m["format_version"] = 2; set_meta(h, m); }},
      {"dtype", C, [&](json& h) { auto m = meta(h); m["dtype"] = "F32"; set_meta(h, m); }},
      {"shape", C, [&](json& h) { auto m = meta(h); m["rows"] = 130; set_meta(h, m); }},
      {"tile", C, [&](json& h) { auto m = meta(h); m["group_tile"] = {128, 128}; set_meta(h, m); }},
      {"nnz", C, [&](json& h) { auto m = meta(h); m["nnz"] = 5; set_meta(h, m); }},
      {"meta_json", C, [&](json& h) { h["__metadata__"]["spinfer.matrix.w"] = "{not json"; }},
      {"tensor_dtype", C, [&](json& h) { h["w.values"]["dtype"] = "BF16"; }},
      {"missing", C, [&](json& h) { h.erase("w.bitmaps"); }},
      {"range", C, [&](json& h) { h["w.bitmaps"]["data_offsets"][1] = 1u << 30; }},
      {"overlap", C, [&](json& h) { h["w.group_offsets"]["data_offsets"] = h["w.bitmaps"]["data_offsets"]; h["w.group_offsets"]["shape"] = h["w.bitmaps"]["shape"]; }},
      {"size", C, [&](json& h) { h["w.values"]["shape"] = {1}; }},
      {"unknown_dtype", C, [&](json& h) { h["w.values"]["dtype"] = "Q4"; }},
      {"meta_type", C, [&](json& h) { h["__metadata__"]["spinfer.format"] = 3; }},
      // shape x element size wraps past 2^64 to the byte count of the range (0 here)
      {"wrap_extra", C, [&](json& h) { h["extra"] = {{"dtype", "U64"}, {"shape", {uint64_t(1) << 61}}, {"data_offsets", {0, 0}}}; }},
      {"wrap_bitmaps", C, [&](json& h) { h["w.bitmaps"]["shape"] = {uint64_t(1) << 61}; h["w.bitmaps"]["data_offsets"][1] = h["w.bitmaps"]["data_offsets"][0]; }},
  };
  for (const auto& c : cases) {
    const std::string q = with_header(p, c.tag, c.edit);
    CHECK_MESSAGE(load_status(q) == c.status, std::string(c.tag));
    std::remove(q.c_str());
  }
  std::remove(p.c_str());
}

TEST_CASE("lenient reading, refused: a byte-order mark, a repeated key, another spinfer.format") {
  const HostMatrix a = sample(70, 90, 0.5, DType::f16, 4);
  const std::string p = temp_path("lenient");
  io::save_matrices(p, {{"w", &a}});
  const auto bytes = read_bytes(p);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[size_t(i)];
  const std::string header(bytes.begin() + 8, bytes.begin() + 8 + std::ptrdiff_t(n));
  // Rewrites the header text with `edit` (raw text: BOMs and duplicates survive).
  const auto with_text = [&](const std::string& text) {
    std::vector<uint8_t> out(8);
    for (int i = 0; i < 8; ++i) out[size_t(i)] = uint8_t(uint64_t(text.size()) >> (8 * i));
    out.insert(out.end(), text.begin(), text.end());
    out.insert(out.end(), bytes.begin() + 8 + std::ptrdiff_t(n), bytes.end());
    const std::string q = temp_path("lenient_edit");
    write_bytes(q, out);
    const spinfer_status_t s = load_status(q);
    std::remove(q.c_str());
    return s;
  };
  CHECK(with_text(header) == SPINFER_STATUS_SUCCESS);
  CHECK(with_text("\xEF\xBB\xBF" + header) == SPINFER_STATUS_CORRUPT_DATA);
  // A header "bomb": valid JSON padded past the 16 MiB limit is refused before parsing.
  CHECK(with_text(header + std::string((size_t(16) << 20) + 1, ' ')) == SPINFER_STATUS_CORRUPT_DATA);
  CHECK(with_text(header + std::string(size_t(1) << 20, ' ')) == SPINFER_STATUS_SUCCESS);
  // The same tensor entry twice in the header object.
  const size_t at = header.find("\"w.bitmaps\"");
  REQUIRE(at != std::string::npos);
  const size_t end = header.find('}', at) + 1;
  const std::string entry = header.substr(at, end - at);
  CHECK(with_text("{" + entry + "," + header.substr(1)) == SPINFER_STATUS_CORRUPT_DATA);
  // A file that says it holds another format.
  std::string csr = header;
  const size_t f = csr.find("\"tca-bme\"");
  REQUIRE(f != std::string::npos);
  csr.replace(f, 9, "\"csr-xx\"");
  CHECK(with_text(csr) == SPINFER_STATUS_CORRUPT_DATA);
  std::remove(p.c_str());
}

TEST_CASE("paths that are not regular files: IO_ERROR, never a hang or a replaced link") {
  namespace fs = std::filesystem;
  const HostMatrix a = sample(70, 90, 0.5, DType::f16, 4);
  const fs::path dir = fs::temp_directory_path() / ("spinfer_kinds_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto status_of = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.status();
    }
    return SPINFER_STATUS_SUCCESS;
  };
  // A directory where a file is expected (was OUT_OF_MEMORY: it tried to read 2^63 bytes).
  CHECK(load_status(dir.string()) == SPINFER_STATUS_IO_ERROR);
  CHECK(status_of([&] { io::list_matrices(dir.string()); }) == SPINFER_STATUS_IO_ERROR);
  // A FIFO (opening one for reading blocks until a writer comes: must fail at once).
  const fs::path fifo = dir / "fifo.safetensors";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(load_status(fifo.string()) == SPINFER_STATUS_IO_ERROR);
  CHECK(status_of([&] { io::list_matrices(fifo.string()); }) == SPINFER_STATUS_IO_ERROR);
  // Saving never replaces a symbolic link, a directory, a FIFO or a read-only file.
  const fs::path target = dir / "target.safetensors", link = dir / "link.safetensors";
  io::save_matrices(target.string(), {{"w", &a}});
  const auto before = read_bytes(target.string());
  fs::create_symlink(target, link);
  CHECK(status_of([&] { io::save_matrices(link.string(), {{"w", &a}}); }) == SPINFER_STATUS_IO_ERROR);
  CHECK(fs::is_symlink(link));
  CHECK(status_of([&] { io::save_matrices(dir.string(), {{"w", &a}}); }) == SPINFER_STATUS_IO_ERROR);
  CHECK(status_of([&] { io::save_matrices(fifo.string(), {{"w", &a}}); }) == SPINFER_STATUS_IO_ERROR);
  CHECK(fs::is_fifo(fifo));
  fs::permissions(target, fs::perms::owner_read);
  CHECK(status_of([&] { io::save_matrices(target.string(), {{"w", &a}}); }) == SPINFER_STATUS_IO_ERROR);
  CHECK(read_bytes(target.string()) == before);
  // Nothing was left behind (no temporaries).
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += !e.path().empty();
  CHECK(entries == 3);
  fs::permissions(target, fs::perms::owner_all);
  fs::remove_all(dir);
}

TEST_CASE("a model directory with one name in two files is refused, naming both") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("spinfer_dup_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const HostMatrix a = sample(70, 90, 0.5, DType::f16, 4), b = sample(70, 90, 0.6, DType::f16, 5);
  io::save_matrices((dir / "model-00001.safetensors").string(), {{"layer.w", &a}});
  io::save_matrices((dir / "model-00002.safetensors").string(), {{"other.w", &b}});
  CHECK_NOTHROW(runtime::WeightStore(dir.string()));
  // A stray copy holding a tensor that is already there.
  io::save_matrices((dir / "stray.safetensors").string(), {{"layer.w", &b}});
  try {
    runtime::WeightStore store(dir.string());
    FAIL("a duplicated matrix was accepted");
  } catch (const Error& e) {
    CHECK(e.status() == SPINFER_STATUS_CORRUPT_DATA);
    const std::string msg = e.what();
    CHECK(msg.find("layer.w") != std::string::npos);
    CHECK(msg.find("model-00001.safetensors") != std::string::npos);
    CHECK(msg.find("stray.safetensors") != std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("encode + save + load of 4096 x 11008 fp16 at 50 % is well under a second") {
  std::mt19937_64 rng(8);
  const auto d = test::to_storage(test::random_sparse(4096, 11008, 11008, 0.5, rng), DType::f16);
  const auto t0 = std::chrono::steady_clock::now();
  const HostMatrix m = encode(d.data(), DType::f16, 4096, 11008, 11008, DType::f16);
  const std::string p = temp_path("big");
  io::save_matrices(p, {{"w", &m}});
  const HostMatrix back = io::load_matrix(p, "w");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(same(m, back));
  MESSAGE("encode + save + load took " << s << " s");
  std::remove(p.c_str());
}
