// libFuzzer target: random sequences of C API calls with random arguments -- NULLs,
// bad enum values, negative, huge and overflowing sizes, leading dimensions too small,
// misaligned and overlapping pointers -- and pointers into buffers exactly as large as
// the call's contract says (so ASan sees any read or write past what the library may
// touch). An independent model of each call's contract predicts success or failure;
// the library must agree, fail with a real status and a message, and set output
// handles to NULL on failure. Results of successful SpMMs are checked too, and saved
// files are listed and loaded back.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "fuzz_common.hpp"

using namespace spinfer::fuzz;

namespace {

constexpr uint64_t kMaxBytes = uint64_t(1) << 22;  // larger valid calls are skipped

// Sizes the fuzzer picks: mostly small, sometimes at the edges.
int64_t pick_size(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
    case 0: return in.ConsumeIntegral<int64_t>();
    case 1: return -in.ConsumeIntegralInRange<int64_t>(0, 3);
    case 2: return (int64_t(1) << in.ConsumeIntegralInRange<int>(20, 62)) + in.ConsumeIntegralInRange<int>(-1, 1);
    default: return in.ConsumeIntegralInRange<int64_t>(0, 160);
  }
}
int pick_enum(FuzzedDataProvider& in, int valid_count) {
  return in.ConsumeIntegralInRange<int>(0, 9) == 0 ? in.ConsumeIntegral<int>()
                                                    : in.ConsumeIntegralInRange<int>(0, valid_count - 1);
}
bool valid_dtype(int t) { return t >= 0 && t <= 2; }
bool valid_storage(int t) { return t == 1 || t == 2; }
size_t esize(int t) { return t == 0 ? 4 : 2; }

// Bytes of a [rows, cols] array with leading dimension ld; 0 when it overflows.
uint64_t extent(int64_t rows, int64_t cols, int64_t ld, size_t es) {
  if (rows <= 0) return 0;
  __int128 e = (__int128(rows) - 1) * ld + cols;  // |e| < 2^127: no overflow
  if (e <= 0 || e >= (__int128(1) << 63)) return 0;
  e *= __int128(es);
  return e > 0 && e < (__int128(1) << 63) ? uint64_t(e) : 0;
}

// A heap buffer of exactly `bytes` (ASan marks its end), filled from the input.
struct Buffer {
  std::unique_ptr<uint8_t[]> mem;
  size_t bytes = 0;
  Buffer(size_t n, FuzzedDataProvider& in) : mem(new uint8_t[n ? n : 1]), bytes(n) {
    const std::vector<uint8_t> fill = in.ConsumeBytes<uint8_t>(std::min<size_t>(n, 64));
    for (size_t i = 0; i < n; ++i) mem[i] = fill.empty() ? uint8_t(i * 37) : fill[i % fill.size()];
  }
  uint8_t* get() { return mem.get(); }
};

// Checks a call against the model's prediction.
void check(spinfer_status_t s, bool predicted_ok, const char* call) {
  count(call, s);
  if (predicted_ok) {
    if (s != SPINFER_STATUS_SUCCESS) {
      std::fprintf(stderr, "%s: %s: %s\n", call, spinfer_status_string(s), spinfer_last_error_message());
      fail("a valid call failed");
    }
  } else {
    if (s == SPINFER_STATUS_SUCCESS) {
      std::fprintf(stderr, "%s succeeded\n", call);
      fail("an invalid call succeeded");
    }
    expect_clean_failure(s, call);
  }
}

struct State {
  spinfer_context_t* ctx = nullptr;
  std::vector<spinfer_matrix_t*> mats;
  std::vector<std::pair<int64_t, int64_t>> shapes;
  ~State() {
    for (auto* m : mats) spinfer_matrix_destroy(m);
    spinfer_context_destroy(ctx);
  }
  // A matrix from the pool, or NULL.
  spinfer_matrix_t* pick(FuzzedDataProvider& in, int64_t* rows, int64_t* cols) {
    if (mats.empty() || in.ConsumeIntegralInRange<int>(0, 7) == 0) return nullptr;
    const size_t i = in.ConsumeIntegralInRange<size_t>(0, mats.size() - 1);
    *rows = shapes[i].first;
    *cols = shapes[i].second;
    return mats[i];
  }
};

void op_context(State& st, FuzzedDataProvider& in) {
  spinfer_context_config_t cfg;
  spinfer_context_config_init(&cfg);
  const int size_kind = in.ConsumeIntegralInRange<int>(0, 5);
  cfg.struct_size = size_kind == 0 ? in.ConsumeIntegralInRange<size_t>(0, sizeof cfg - 1) : sizeof cfg;
  const int backend = pick_enum(in, 3);
  cfg.backend = spinfer_backend_t(backend);
  cfg.device = in.ConsumeBool() ? 0 : in.ConsumeIntegral<int>();
  cfg.host_threads = in.ConsumeIntegralInRange<int>(-2, 6);
  cfg.spmm_workspace_slots = in.ConsumeBool() ? 4 : in.ConsumeIntegralInRange<int>(-2, 70);
  const bool use_null_out = in.ConsumeIntegralInRange<int>(0, 15) == 0;
  spinfer_context_t* ctx = reinterpret_cast<spinfer_context_t*>(1);
  const bool cuda = backend == SPINFER_BACKEND_CUDA;  // no GPU in CI: never succeeds here
  // An older caller's struct ends before spmm_workspace_slots (then it takes the default).
  const size_t slots_at = offsetof(spinfer_context_config_t, spmm_workspace_slots);
  const bool slots_ok = cfg.struct_size < slots_at + sizeof(int) ||
                        (cfg.spmm_workspace_slots >= 0 && cfg.spmm_workspace_slots <= 64);
  const bool ok = !use_null_out && cfg.struct_size >= slots_at && (backend == 0 || backend == 1) &&
                  cfg.device >= 0 && cfg.host_threads >= 0 && slots_ok && !cuda;
  const spinfer_status_t s = spinfer_context_create_ex(use_null_out ? nullptr : &ctx, &cfg);
  if (spinfer_has_cuda() && (backend == 0 || cuda)) {  // depends on the machine: only be clean
    count("spinfer_context_create_ex", s);
    if (s != SPINFER_STATUS_SUCCESS) expect_clean_failure(s, "spinfer_context_create_ex");
  } else {
    check(s, ok, "spinfer_context_create_ex");
  }
  if (use_null_out) return;
  if (s != SPINFER_STATUS_SUCCESS) {
    expect(ctx == nullptr, "failed context_create left a handle");
    return;
  }
  spinfer_context_destroy(st.ctx);
  st.ctx = ctx;
}

void op_encode(State& st, FuzzedDataProvider& in) {
  const int dense_dtype = pick_enum(in, 3), storage = pick_enum(in, 3);
  const int64_t rows = pick_size(in), cols = pick_size(in);
  const int64_t ld = in.ConsumeBool() ? cols : pick_size(in);
  const bool null_dense = in.ConsumeIntegralInRange<int>(0, 15) == 0;
  const bool shape_ok = rows >= 1 && cols >= 1 && rows <= (int64_t(1) << 31) && cols <= (int64_t(1) << 31);
  const uint64_t bytes = valid_dtype(dense_dtype) && shape_ok ? extent(rows, cols, ld, esize(dense_dtype)) : 0;
  bool ok = !null_dense && valid_dtype(dense_dtype) && valid_storage(storage) && shape_ok && ld >= cols;
  if (ok && (bytes == 0 || bytes > kMaxBytes)) {
    if (bytes != 0) return;  // valid but too big to allocate here: skip
    ok = false;              // the extent overflows: the library must refuse
  }
  Buffer dense(ok ? bytes : 16, in);
  spinfer_matrix_t* m = reinterpret_cast<spinfer_matrix_t*>(1);
  const spinfer_status_t s = spinfer_matrix_encode(&m, null_dense ? nullptr : dense.get(),
                                                   spinfer_dtype_t(dense_dtype), rows, cols, ld,
                                                   spinfer_dtype_t(storage));
  check(s, ok, "spinfer_matrix_encode");
  if (s != SPINFER_STATUS_SUCCESS) {
    expect(m == nullptr, "failed encode left a handle");
    return;
  }
  if (st.mats.size() >= 4) {
    spinfer_matrix_destroy(st.mats.front());
    st.mats.erase(st.mats.begin());
    st.shapes.erase(st.shapes.begin());
  }
  st.mats.push_back(m);
  st.shapes.emplace_back(rows, cols);
}

void op_decode(State& st, FuzzedDataProvider& in) {
  int64_t rows = 0, cols = 0;
  spinfer_matrix_t* m = st.pick(in, &rows, &cols);
  const int dtype = pick_enum(in, 3);
  const int64_t ld = in.ConsumeBool() ? cols : pick_size(in);
  const bool null_dense = in.ConsumeIntegralInRange<int>(0, 15) == 0;
  const uint64_t bytes = m && valid_dtype(dtype) ? extent(rows, cols, ld, esize(dtype)) : 0;
  bool ok = m && !null_dense && valid_dtype(dtype) && ld >= cols;
  if (ok && (bytes == 0 || bytes > kMaxBytes)) {
    if (bytes != 0) return;
    ok = false;
  }
  Buffer dense(ok ? bytes : 16, in);
  check(spinfer_matrix_decode(m, null_dense ? nullptr : dense.get(), spinfer_dtype_t(dtype), ld), ok,
        "spinfer_matrix_decode");
}

void op_info(State& st, FuzzedDataProvider& in) {
  int64_t rows = 0, cols = 0;
  spinfer_matrix_t* m = st.pick(in, &rows, &cols);
  spinfer_matrix_info_t info;
  std::memset(&info, 0xab, sizeof info);
  info.struct_size = in.ConsumeBool() ? sizeof info : in.ConsumeIntegralInRange<size_t>(0, sizeof info + 64);
  const bool null_info = in.ConsumeIntegralInRange<int>(0, 15) == 0;
  const bool ok = m && !null_info && info.struct_size >= offsetof(spinfer_matrix_info_t, rows) + 8;
  check(spinfer_matrix_get_info(m, null_info ? nullptr : &info), ok, "spinfer_matrix_get_info");
  if (ok && info.struct_size >= sizeof info) {
    const uint64_t groups = uint64_t((rows + 63) / 64) * uint64_t((cols + 63) / 64);
    expect(info.rows == rows && info.cols == cols, "info shape");
    expect(info.bitmaps_count == groups * 64 && info.offsets_count == groups + 1, "info array counts");
    expect(info.bytes == info.values_count * 2 + (info.bitmaps_count + info.offsets_count) * 8, "info bytes");
  }
  check(spinfer_matrix_validate(m), m != nullptr, "spinfer_matrix_validate");
}

void op_spmm(State& st, FuzzedDataProvider& in) {
  int64_t M = 0, K = 0;
  spinfer_matrix_t* w = st.pick(in, &M, &K);
  spinfer_context_t* ctx = in.ConsumeIntegralInRange<int>(0, 15) == 0 ? nullptr : st.ctx;
  const int dtype = pick_enum(in, 3);
  const int64_t n = in.ConsumeBool() ? in.ConsumeIntegralInRange<int64_t>(0, 9) : pick_size(in);
  const int64_t ldx = in.ConsumeBool() ? K : pick_size(in);
  const int64_t ldy = in.ConsumeBool() ? M : pick_size(in);
  const int layout = in.ConsumeIntegralInRange<int>(0, 11);  // 0: y aliases x, 1: misaligned, 2: NULL x
  const bool use_bias = in.ConsumeBool();
  spinfer_spmm_options_t opt;
  spinfer_spmm_options_init(&opt);
  const int opt_kind = in.ConsumeIntegralInRange<int>(0, 7);
  if (opt_kind == 1) opt.struct_size = in.ConsumeIntegralInRange<size_t>(0, sizeof opt - 1);
  if (opt_kind == 2) opt.split_k = in.ConsumeIntegral<int>();
  if (opt_kind == 3) opt.tile_n = in.ConsumeIntegral<int>();
  const bool opt_ok = opt.struct_size >= sizeof opt && opt.split_k >= 0 && opt.tile_n >= 0;

  const size_t es = valid_dtype(dtype) ? esize(dtype) : 2;
  const uint64_t xb = n > 0 ? extent(n, K, ldx, es) : 0, yb = n > 0 ? extent(n, M, ldy, es) : 0;
  bool ok = ctx && w && valid_dtype(dtype) && opt_ok && n >= 0 && ldx >= K && ldy >= M;
  bool sized = false;  // buffers as large as the contract says (else 16 bytes: must not be touched)
  if (ok && n > 0) {
    if (xb == 0 || yb == 0) {
      ok = false;  // the extents overflow: the library must refuse
    } else if (xb > kMaxBytes || yb > kMaxBytes) {
      return;  // valid but too big to allocate here
    } else {
      sized = true;
      if (layout <= 2) ok = false;  // y aliases x, x misaligned, or x NULL
    }
  }
  Buffer x(sized ? xb + 1 : 16, in), y(sized ? yb + 1 : 16, in), bias(size_t(M) * es + 1, in);
  uint8_t* xp = x.get();
  uint8_t* yp = y.get();
  if (layout == 0 && sized) yp = xp;           // overlap
  if (layout == 1 && sized) xp += 1;           // misaligned (the buffers have a spare byte)
  if (layout == 2) xp = nullptr;
  // y poisoned with NaN so an unwritten element shows.
  if (sized && layout != 0 && dtype == 0)
    for (uint64_t i = 0; i + 4 <= yb; i += 4) std::memcpy(yp + i, "\x00\x00\xc0\x7f", 4);
  const spinfer_status_t s = spinfer_spmm_ex(ctx, w, xp, n, ldx, use_bias ? bias.get() : nullptr, yp, ldy,
                                             spinfer_dtype_t(dtype), opt_kind == 0 ? nullptr : &opt, nullptr);
  check(s, ok, "spinfer_spmm_ex");
  // A successful F32 product of finite inputs is right (against a float64 dot product).
  if (s == SPINFER_STATUS_SUCCESS && sized && dtype == 0 && layout >= 3) {
    std::vector<float> wd(size_t(M * K));
    expect(spinfer_matrix_decode(w, wd.data(), SPINFER_DTYPE_F32, K) == SPINFER_STATUS_SUCCESS, "decode");
    const float* xf = reinterpret_cast<const float*>(xp);
    const float* yf = reinterpret_cast<const float*>(yp);
    const float* bf = reinterpret_cast<const float*>(bias.get());
    for (int64_t t = 0; t < n; ++t)
      for (int64_t r = 0; r < M; ++r) {
        double ref = use_bias ? bf[r] : 0.0, absum = std::fabs(ref);
        for (int64_t k = 0; k < K; ++k) {
          const double p = double(wd[size_t(r * K + k)]) * xf[t * ldx + k];
          ref += p;
          absum += std::fabs(p);
        }
        if (!(absum < 1e30)) continue;
        expect(std::fabs(double(yf[t * ldy + r]) - ref) <= double(K + 2) * 1.2e-7 * absum + 1e-30,
               "spmm result wrong");
      }
  }
}

// Saves up to three pool matrices under fuzzed names; refused exactly when an argument
// breaks the contract (NULL path / arrays / name / matrix, count 0, an empty name, a
// control character, a name used twice). A saved file lists every matrix under its name
// with its shape.
void op_save(State& st, FuzzedDataProvider& in) {
  static const char* const kNames[] = {"w", "layer.0.q", "", "a\001b", "x y", "\303\274", "w", nullptr};
  static const std::string path = [] {
    const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    return std::string(dir) + "/spinfer_fuzz_save_" + std::to_string(getpid()) + ".safetensors";
  }();
  const size_t count = in.ConsumeIntegralInRange<size_t>(0, 3);
  std::vector<const spinfer_matrix_t*> mats(count);
  std::vector<const char*> names(count);
  std::vector<std::pair<int64_t, int64_t>> shapes(count);
  bool ok = count > 0;
  for (size_t i = 0; i < count; ++i) {
    mats[i] = st.pick(in, &shapes[i].first, &shapes[i].second);
    names[i] = kNames[in.ConsumeIntegralInRange<size_t>(0, 7)];
    ok = ok && mats[i] && names[i] && names[i][0] != '\0';
    for (const char* c = names[i]; ok && *c; ++c) ok = (unsigned char)*c >= 0x20 && *c != 0x7f;
    for (size_t j = 0; j < i; ++j) ok = ok && !(names[i] && names[j] && std::strcmp(names[i], names[j]) == 0);
  }
  const int nulls = in.ConsumeIntegralInRange<int>(0, 15);  // 0: path, 1: matrices, 2: names NULL
  if (nulls <= 2) ok = false;
  const spinfer_status_t s = spinfer_save(nulls == 0 ? nullptr : path.c_str(), nulls == 1 ? nullptr : mats.data(),
                                          nulls == 2 ? nullptr : names.data(), count);
  check(s, ok, "spinfer_save");
  if (s != SPINFER_STATUS_SUCCESS) return;
  size_t listed = 0;
  expect(spinfer_file_matrix_count(path.c_str(), &listed) == SPINFER_STATUS_SUCCESS && listed == count,
         "saved file lists another number of matrices");
  for (size_t i = 0; i < count; ++i) {
    spinfer_matrix_t* back = nullptr;
    expect(spinfer_load(&back, path.c_str(), names[i]) == SPINFER_STATUS_SUCCESS, "saved matrix does not load");
    spinfer_matrix_info_t info;
    info.struct_size = sizeof info;
    expect(spinfer_matrix_get_info(back, &info) == SPINFER_STATUS_SUCCESS && info.rows == shapes[i].first &&
               info.cols == shapes[i].second,
           "saved matrix comes back with another shape");
    spinfer_matrix_destroy(back);
  }
  std::remove(path.c_str());
}

// spinfer_matrix_copy_arrays: each buffer is skipped (NULL, 0), NULL with a count,
// given a wrong count, or given the right one. The right counts come from the format
// (docs/format.md), not from the library: GM * GK * 64 bitmaps, GM * GK + 1 offsets, and
// each GroupTile's non-zeros (counted in the decoded matrix) rounded up to 8 values.
// Buffers hold no more than the smaller of their count and the right one, so ASan sees a
// write past either; a failed call must leave them as they were, and a successful full
// copy must rebuild the same matrix through spinfer_matrix_from_arrays.
void op_copy_arrays(State& st, FuzzedDataProvider& in) {
  int64_t rows = 0, cols = 0;
  spinfer_matrix_t* m = st.pick(in, &rows, &cols);
  uint64_t want[3] = {0, 0, 0};  // values, bitmaps, group_offsets
  std::vector<float> dense;
  if (m) {
    const int64_t gk = (cols + 63) / 64, groups = (rows + 63) / 64 * gk;
    dense.resize(size_t(rows * cols));
    expect(spinfer_matrix_decode(m, dense.data(), SPINFER_DTYPE_F32, cols) == SPINFER_STATUS_SUCCESS, "decode");
    std::vector<uint64_t> per_group(size_t(groups), 0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) per_group[size_t(r / 64 * gk + c / 64)] += dense[size_t(r * cols + c)] != 0.0f;
    for (uint64_t n : per_group) want[0] += (n + 7) / 8 * 8;
    want[1] = uint64_t(groups) * 64;
    want[2] = uint64_t(groups) + 1;
  }
  static const size_t kItem[3] = {2, 8, 8};
  bool ok = m != nullptr;
  uint64_t counts[3];
  bool null_buf[3];
  std::vector<std::unique_ptr<Buffer>> bufs;
  for (int i = 0; i < 3; ++i) {
    const int kind = in.ConsumeIntegralInRange<int>(0, 7);
    null_buf[i] = kind <= 1;
    counts[i] = kind == 0 ? 0
                : kind == 1 ? uint64_t(pick_size(in))
                : kind == 2 ? want[i] + uint64_t(in.ConsumeIntegralInRange<int64_t>(-2, 2))
                : kind == 3 ? uint64_t(pick_size(in))
                            : want[i];
    ok = ok && counts[i] == (null_buf[i] ? 0 : want[i]);
    bufs.push_back(std::make_unique<Buffer>(size_t(std::min(counts[i], want[i])) * kItem[i], in));
  }
  std::vector<std::vector<uint8_t>> before;
  for (auto& b : bufs) before.emplace_back(b->get(), b->get() + b->bytes);
  auto ptr = [&](int i) { return null_buf[i] ? nullptr : bufs[size_t(i)]->get(); };
  const spinfer_status_t s = spinfer_matrix_copy_arrays(
      m, reinterpret_cast<uint16_t*>(ptr(0)), counts[0], reinterpret_cast<uint64_t*>(ptr(1)), counts[1],
      reinterpret_cast<uint64_t*>(ptr(2)), counts[2]);
  check(s, ok, "spinfer_matrix_copy_arrays");
  if (s != SPINFER_STATUS_SUCCESS) {
    for (int i = 0; i < 3; ++i)
      expect(bufs[size_t(i)]->bytes == 0 ||
                 std::memcmp(bufs[size_t(i)]->get(), before[size_t(i)].data(), bufs[size_t(i)]->bytes) == 0,
             "failed copy_arrays wrote a buffer");
    return;
  }
  if (null_buf[0] || null_buf[1] || null_buf[2]) return;
  spinfer_matrix_info_t info;
  spinfer_matrix_info_init(&info);
  expect(spinfer_matrix_get_info(m, &info) == SPINFER_STATUS_SUCCESS, "get_info");
  spinfer_matrix_t* rebuilt = nullptr;
  const spinfer_status_t r = spinfer_matrix_from_arrays(
      &rebuilt, rows, cols, info.dtype, info.format_version, reinterpret_cast<uint16_t*>(ptr(0)), counts[0],
      reinterpret_cast<uint64_t*>(ptr(1)), counts[1], reinterpret_cast<uint64_t*>(ptr(2)), counts[2]);
  expect(r == SPINFER_STATUS_SUCCESS, "copied arrays do not rebuild the matrix");
  std::vector<float> back(dense.size());
  expect(spinfer_matrix_decode(rebuilt, back.data(), SPINFER_DTYPE_F32, cols) == SPINFER_STATUS_SUCCESS, "decode");
  expect(std::memcmp(back.data(), dense.data(), dense.size() * sizeof(float)) == 0,
         "matrix rebuilt from copied arrays differs");
  spinfer_matrix_destroy(rebuilt);
}

// Device residency on the fuzzer's context: without a CUDA context, upload, GPU encode
// and download are refused (NOT_SUPPORTED or an argument error) and leave *out NULL;
// with one (a GPU machine) they must at least fail cleanly or give a handle.
void op_residency(State& st, FuzzedDataProvider& in) {
  int64_t rows = 0, cols = 0;
  spinfer_matrix_t* m = st.pick(in, &rows, &cols);
  spinfer_context_t* ctx = in.ConsumeIntegralInRange<int>(0, 7) == 0 ? nullptr : st.ctx;
  spinfer_backend_t backend = SPINFER_BACKEND_AUTO;
  if (ctx) expect(spinfer_context_get_backend(ctx, &backend) == SPINFER_STATUS_SUCCESS, "get_backend");
  const bool cuda = backend == SPINFER_BACKEND_CUDA;
  const bool null_out = in.ConsumeIntegralInRange<int>(0, 7) == 0;
  Buffer dense(64, in);
  const int which = in.ConsumeIntegralInRange<int>(0, 2);
  spinfer_matrix_t* out = reinterpret_cast<spinfer_matrix_t*>(1);
  spinfer_matrix_t** outp = null_out ? nullptr : &out;
  spinfer_status_t s;
  const char* call;
  if (which == 0) {
    s = spinfer_matrix_upload(ctx, m, outp, nullptr), call = "spinfer_matrix_upload";
  } else if (which == 1) {
    s = spinfer_matrix_encode_device(ctx, outp, dense.get(), spinfer_dtype_t(pick_enum(in, 3)), 4, 8, 8,
                                     spinfer_dtype_t(pick_enum(in, 3)), nullptr),
    call = "spinfer_matrix_encode_device";
  } else {
    s = spinfer_matrix_download(ctx, m, outp, nullptr), call = "spinfer_matrix_download";
  }
  if (cuda) {
    count(call, s);
    if (s != SPINFER_STATUS_SUCCESS) expect_clean_failure(s, call);
  } else {
    check(s, false, call);
  }
  if (null_out) return;
  if (s == SPINFER_STATUS_SUCCESS) spinfer_matrix_destroy(out);
  else expect(out == nullptr, "failed residency call left a handle");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  State st;
  expect(spinfer_context_create(&st.ctx, SPINFER_BACKEND_HOST) == SPINFER_STATUS_SUCCESS, "host context");
  for (int step = 0; step < 16 && in.remaining_bytes() > 0; ++step) {
    switch (in.ConsumeIntegralInRange<int>(0, 8)) {
      case 0: op_context(st, in); break;
      case 1: case 2: op_encode(st, in); break;
      case 3: op_decode(st, in); break;
      case 4: op_info(st, in); break;
      case 5: op_save(st, in); break;
      case 6: op_residency(st, in); break;
      case 7: op_copy_arrays(st, in); break;
      default: op_spmm(st, in); break;
    }
  }
  return 0;
}
