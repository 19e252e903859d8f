// Fault injection on the host: every allocation and every file operation that a C API
// call makes is failed in turn (once, and from then on), and the call must return an
// error status with a message, leak nothing and leave its handles usable.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <unistd.h>
#include <random>
#include <string>
#include <vector>

#include "fault_sweep.hpp"
#include "format/encode.hpp"
#include "host_fixtures.hpp"
#include "spinfer.h"

namespace fs = std::filesystem;
using spinfer::fault::Site;
using spinfer::fault::site_bit;
using spinfer::test::FaultScenario;
using spinfer::test::sweep;
using spinfer::test::sweep_all;
using spinfer::test::kHostAlloc;
using spinfer::test::kFiles;
using spinfer::test::kHostSites;

namespace {

// A random 70 %-sparse matrix with odd sizes (partial GroupTiles), as float.
std::vector<float> random_weights(int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::uniform_real_distribution<double> keep(0.0, 1.0);
  std::vector<float> w(size_t(rows * cols), 0.0f);
  for (auto& v : w)
    if (keep(rng) >= 0.7) v = value(rng) + (value(rng) > 0 ? 1.5f : -1.5f);
  return w;
}

struct Fixture {
  static constexpr int64_t M = 100, K = 130, N = 5;
  std::vector<float> dense = random_weights(M, K, 7);
  std::vector<uint16_t> dense_f16;  // the weights rounded to fp16 (what a matrix stores)
  spinfer_matrix_t* w = nullptr;
  spinfer_matrix_t* w2 = nullptr;
  fs::path dir;

  Fixture() {
    for (float v : dense) dense_f16.push_back(spinfer::float_to_half(v));
    REQUIRE(spinfer_matrix_encode(&w, dense.data(), SPINFER_DTYPE_F32, M, K, K, SPINFER_DTYPE_F16) ==
            SPINFER_STATUS_SUCCESS);
    const auto d2 = random_weights(70, 64, 8);
    REQUIRE(spinfer_matrix_encode(&w2, d2.data(), SPINFER_DTYPE_F32, 70, 64, 64, SPINFER_DTYPE_BF16) ==
            SPINFER_STATUS_SUCCESS);
    dir = fs::temp_directory_path() / ("spinfer_fault_" + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  ~Fixture() {
    spinfer_matrix_destroy(w);
    spinfer_matrix_destroy(w2);
    fs::remove_all(dir);
  }
  // True when `m` decodes to exactly the fp16-rounded weights.
  bool holds_weights(const spinfer_matrix_t* m) const {
    std::vector<uint16_t> out(size_t(M * K), 0x7e00);
    if (spinfer_matrix_decode(m, out.data(), SPINFER_DTYPE_F16, K) != SPINFER_STATUS_SUCCESS) return false;
    return std::memcmp(out.data(), dense_f16.data(), out.size() * 2) == 0;
  }
  // True when the directory holds exactly the listed files (no stray temporaries).
  bool dir_holds_only(std::initializer_list<const char*> names) const {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
      ++n;
      bool known = false;
      for (const char* name : names) known = known || e.path().filename() == name;
      if (!known) return false;
    }
    return n == names.size();
  }
};

}  // namespace

TEST_CASE("fault injection: contexts") {
  spinfer_context_t* ctx = nullptr;
  spinfer_context_config_t cfg;
  spinfer_context_config_init(&cfg);
  cfg.backend = SPINFER_BACKEND_HOST;
  cfg.host_threads = 2;
  sweep_all({"context_create_ex",
             [&] { return spinfer_context_create_ex(&ctx, &cfg); },
             [&](bool ok) -> const char* {
               if (!ok) return ctx == nullptr ? nullptr : "ctx not NULL after failure";
               spinfer_backend_t b{};
               if (spinfer_context_get_backend(ctx, &b) != SPINFER_STATUS_SUCCESS || b != SPINFER_BACKEND_HOST)
                 return "context has the wrong backend";
               return nullptr;
             },
             [&] { spinfer_context_destroy(ctx); ctx = nullptr; }},
            false);
}

TEST_CASE("fault injection: encode, decode, from_arrays, info, validate") {
  Fixture f;
  spinfer_matrix_t* m = nullptr;
  sweep_all({"matrix_encode",
             [&] {
               return spinfer_matrix_encode(&m, f.dense.data(), SPINFER_DTYPE_F32, f.M, f.K, f.K,
                                            SPINFER_DTYPE_F16);
             },
             [&](bool ok) -> const char* {
               if (!ok) return m == nullptr ? nullptr : "out not NULL after failure";
               return f.holds_weights(m) ? nullptr : "encoded matrix decodes wrong";
             },
             [&] { spinfer_matrix_destroy(m); m = nullptr; }},
            false);

  std::vector<float> out(size_t(f.M * f.K));
  sweep_all({"matrix_decode",
             [&] {
               std::fill(out.begin(), out.end(), NAN);
               return spinfer_matrix_decode(f.w, out.data(), SPINFER_DTYPE_F32, f.K);
             },
             [&](bool ok) -> const char* {
               if (!ok) return nullptr;
               for (size_t i = 0; i < out.size(); ++i)
                 if (out[i] != spinfer::half_to_float(f.dense_f16[i])) return "decoded value wrong";
               return nullptr;
             },
             [] {}},
            false);

  const spinfer::HostMatrix ref = spinfer::encode(f.dense.data(), spinfer::DType::f32, f.M, f.K, f.K,
                                                  spinfer::DType::f16);
  sweep_all({"matrix_from_arrays",
             [&] {
               return spinfer_matrix_from_arrays(&m, f.M, f.K, SPINFER_DTYPE_F16, SPINFER_FORMAT_VERSION,
                                                 ref.values.data(), ref.values.size(), ref.bitmaps.data(),
                                                 ref.bitmaps.size(), ref.group_offsets.data(),
                                                 ref.group_offsets.size());
             },
             [&](bool ok) -> const char* {
               if (!ok) return m == nullptr ? nullptr : "out not NULL after failure";
               return f.holds_weights(m) ? nullptr : "matrix from arrays decodes wrong";
             },
             [&] { spinfer_matrix_destroy(m); m = nullptr; }},
            false);

  spinfer_matrix_info_t info;
  sweep_all({"matrix_get_info+validate",
             [&] {
               info = spinfer_matrix_info_t{};
               info.struct_size = sizeof info;
               const spinfer_status_t s = spinfer_matrix_get_info(f.w, &info);
               return s != SPINFER_STATUS_SUCCESS ? s : spinfer_matrix_validate(f.w);
             },
             [&](bool ok) -> const char* {
               if (!ok) return nullptr;
               return info.rows == f.M && info.cols == f.K && info.nnz > 0 ? nullptr : "info wrong";
             },
             [] {}},
            false);
}

TEST_CASE("fault injection: save and load") {
  Fixture f;
  const std::string path = (f.dir / "weights.safetensors").string();
  const spinfer_matrix_t* mats[2] = {f.w, f.w2};
  const char* names[2] = {"layer0.fc1", "layer0.fc2"};
  // An older file at the same path: a failed save must leave it intact.
  const spinfer_matrix_t* old_mats[1] = {f.w2};
  const char* old_names[1] = {"old"};

  sweep_all({"save",
             [&] {
               return spinfer_save(path.c_str(), mats, names, 2);
             },
             [&](bool ok) -> const char* {
               if (!f.dir_holds_only({"weights.safetensors"})) return "stray or missing file after save";
               size_t count = 0;
               if (spinfer_file_matrix_count(path.c_str(), &count) != SPINFER_STATUS_SUCCESS)
                 return "file unreadable after save";
               if (ok) return count == 2 ? nullptr : "saved file lacks the matrices";
               return count == 1 ? nullptr : "failed save changed the old file";
             },
             [&] {
               // Restore the older file for the next run.
               spinfer_save(path.c_str(), old_mats, old_names, 1);
             }},
            true);

  REQUIRE(spinfer_save(path.c_str(), mats, names, 2) == SPINFER_STATUS_SUCCESS);
  spinfer_matrix_t* m = nullptr;
  sweep_all({"load",
             [&] { return spinfer_load(&m, path.c_str(), "layer0.fc1"); },
             [&](bool ok) -> const char* {
               if (!ok) return m == nullptr ? nullptr : "out not NULL after failure";
               return f.holds_weights(m) ? nullptr : "loaded matrix decodes wrong";
             },
             [&] { spinfer_matrix_destroy(m); m = nullptr; }},
            true);

  size_t count = 0;
  char name[64];
  size_t required = 0;
  sweep_all({"file_matrix_count+name",
             [&] {
               count = 0;
               std::memset(name, 0, sizeof name);
               const spinfer_status_t s = spinfer_file_matrix_count(path.c_str(), &count);
               return s != SPINFER_STATUS_SUCCESS
                          ? s
                          : spinfer_file_matrix_name(path.c_str(), 1, name, sizeof name, &required);
             },
             [&](bool ok) -> const char* {
               if (!ok) return nullptr;
               return count == 2 && std::strcmp(name, "layer0.fc2") == 0 && required == 11
                          ? nullptr
                          : "wrong count or name";
             },
             [] {}},
            true);
}

TEST_CASE("fault injection: host SpMM") {
  Fixture f;
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<uint16_t> x(size_t(f.N * f.K)), bias(size_t(f.M));
  for (auto& v : x) v = spinfer::float_to_half(value(rng));
  for (auto& v : bias) v = spinfer::float_to_half(value(rng));

  for (int threads : {1, 3}) {
    spinfer_context_t* ctx = spinfer::test::host_context(threads);

    // Baseline (unarmed), checked against a float64 reference.
    std::vector<uint16_t> base(size_t(f.N * f.M));
    REQUIRE(spinfer_spmm(ctx, f.w, x.data(), f.N, f.K, bias.data(), base.data(), f.M, SPINFER_DTYPE_F16,
                         nullptr) == SPINFER_STATUS_SUCCESS);
    double num = 0, den = 0;
    for (int64_t t = 0; t < f.N; ++t)
      for (int64_t r = 0; r < f.M; ++r) {
        double ref = spinfer::half_to_float(bias[size_t(r)]);
        for (int64_t k = 0; k < f.K; ++k)
          ref += double(spinfer::half_to_float(f.dense_f16[size_t(r * f.K + k)])) *
                 spinfer::half_to_float(x[size_t(t * f.K + k)]);
        const double d = spinfer::half_to_float(base[size_t(t * f.M + r)]) - ref;
        num += d * d;
        den += ref * ref;
      }
    REQUIRE(std::sqrt(num / den) <= 1e-3);

    std::vector<uint16_t> y(base.size());
    const std::string name = "spmm host_threads=" + std::to_string(threads);
    sweep_all({name.c_str(),
               [&] {
                 std::fill(y.begin(), y.end(), uint16_t(0x7e00));  // NaN poison
                 return spinfer_spmm(ctx, f.w, x.data(), f.N, f.K, bias.data(), y.data(), f.M,
                                     SPINFER_DTYPE_F16, nullptr);
               },
               [&](bool ok) -> const char* {
                 if (!ok) return nullptr;
                 return y == base ? nullptr : "SpMM result differs from the baseline";
               },
               [] {}},
              false);
    spinfer_context_destroy(ctx);
  }
}

TEST_CASE("fault injection: layers (linear, gated MLP) on the host") {
  const int64_t hidden = 130, inter = 128, N = 3;
  spinfer_context_t* ctx = spinfer::test::host_context(1);
  spinfer_matrix_t *gate = nullptr, *up = nullptr, *down = nullptr;
  const auto wg = random_weights(inter, hidden, 21), wu = random_weights(inter, hidden, 22),
             wd = random_weights(hidden, inter, 23);
  REQUIRE(spinfer_matrix_encode(&gate, wg.data(), SPINFER_DTYPE_F32, inter, hidden, hidden, SPINFER_DTYPE_F16) == SPINFER_STATUS_SUCCESS);
  REQUIRE(spinfer_matrix_encode(&up, wu.data(), SPINFER_DTYPE_F32, inter, hidden, hidden, SPINFER_DTYPE_F16) == SPINFER_STATUS_SUCCESS);
  REQUIRE(spinfer_matrix_encode(&down, wd.data(), SPINFER_DTYPE_F32, hidden, inter, inter, SPINFER_DTYPE_F16) == SPINFER_STATUS_SUCCESS);
  std::vector<float> bias(size_t(inter), 0.25f), x(size_t(N * hidden)), residual(size_t(N * hidden), 1.0f);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 11) - 5) * 0.1f;

  spinfer_linear_config_t lcfg;
  spinfer_linear_config_init(&lcfg);
  lcfg.activation = SPINFER_ACTIVATION_GELU;
  spinfer_linear_t* made = nullptr;
  sweep_all({"linear_create",
             [&] { return spinfer_linear_create(ctx, &made, gate, bias.data(), SPINFER_DTYPE_F32, &lcfg, nullptr); },
             [&](bool ok) -> const char* { return ok == (made != nullptr) ? nullptr : "handle/status disagree"; },
             [&] { spinfer_linear_destroy(made); made = nullptr; }},
            false);

  spinfer_linear_t* linear = nullptr;
  REQUIRE(spinfer_linear_create(ctx, &linear, gate, bias.data(), SPINFER_DTYPE_F32, &lcfg, nullptr) == SPINFER_STATUS_SUCCESS);
  std::vector<float> base(size_t(N * inter)), y(base.size());
  REQUIRE(spinfer_linear_forward(ctx, linear, x.data(), N, nullptr, base.data(), SPINFER_DTYPE_F32, nullptr) == SPINFER_STATUS_SUCCESS);
  sweep_all({"linear_forward",
             [&] {
               std::fill(y.begin(), y.end(), NAN);
               return spinfer_linear_forward(ctx, linear, x.data(), N, nullptr, y.data(), SPINFER_DTYPE_F32, nullptr);
             },
             [&](bool ok) -> const char* { return !ok || y == base ? nullptr : "linear result differs from the baseline"; },
             [] {}},
            false);

  spinfer_mlp_config_t mcfg;
  spinfer_mlp_config_init(&mcfg);
  mcfg.max_tokens = 8;
  spinfer_mlp_t* mlp_made = nullptr;
  sweep_all({"mlp_create (gated, fused)",
             [&] { return spinfer_mlp_create(ctx, &mlp_made, gate, up, down, nullptr, nullptr, SPINFER_DTYPE_F32, &mcfg, nullptr); },
             [&](bool ok) -> const char* { return ok == (mlp_made != nullptr) ? nullptr : "handle/status disagree"; },
             [&] { spinfer_mlp_destroy(mlp_made); mlp_made = nullptr; }},
            false);

  spinfer_mlp_t* mlp = nullptr;
  REQUIRE(spinfer_mlp_create(ctx, &mlp, gate, up, down, nullptr, nullptr, SPINFER_DTYPE_F32, &mcfg, nullptr) == SPINFER_STATUS_SUCCESS);
  std::vector<float> mbase(size_t(N * hidden)), my(mbase.size());
  REQUIRE(spinfer_mlp_forward(ctx, mlp, x.data(), N, residual.data(), mbase.data(), SPINFER_DTYPE_F32, nullptr) == SPINFER_STATUS_SUCCESS);
  sweep_all({"mlp_forward",
             [&] {
               std::fill(my.begin(), my.end(), NAN);
               return spinfer_mlp_forward(ctx, mlp, x.data(), N, residual.data(), my.data(), SPINFER_DTYPE_F32, nullptr);
             },
             [&](bool ok) -> const char* { return !ok || my == mbase ? nullptr : "MLP result differs from the baseline"; },
             [] {}},
            false);

  spinfer_mlp_destroy(mlp);
  spinfer_linear_destroy(linear);
  spinfer_matrix_destroy(gate);
  spinfer_matrix_destroy(up);
  spinfer_matrix_destroy(down);
  spinfer_context_destroy(ctx);
}
