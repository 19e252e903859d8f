// Shared checks of the fuzz targets: what must hold for every matrix the library
// accepted, whatever bytes it came from.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "format/encode.hpp"
#include "format/tca_bme.hpp"
#include "format/validate.hpp"
#include "spinfer.h"

namespace spinfer::fuzz {

// Stops the run with a message: libFuzzer records the input as a crash.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}
inline void expect(bool ok, const char* what) {
  if (!ok) fail(what);
}

// Per entry point: calls that succeeded and calls that were (rightly) refused,
// printed when the fuzzer exits -- the "bad inputs tried" of docs/reliability.md.
struct Tally {
  const char* entry;
  uint64_t accepted = 0, refused = 0;
};
inline Tally* tally(const char* entry) {
  static Tally table[16];
  static bool registered = false;
  if (!registered) {
    registered = true;
    std::atexit([] {
      for (const Tally& t : table)
        if (t.entry)
          std::fprintf(stderr, "tally: %-26s accepted %10llu  refused %10llu\n", t.entry,
                       (unsigned long long)t.accepted, (unsigned long long)t.refused);
    });
  }
  for (Tally& t : table) {
    if (t.entry == entry || (t.entry && std::string_view(t.entry) == entry)) return &t;
    if (!t.entry) {
      t.entry = entry;
      return &t;
    }
  }
  return &table[15];
}
inline void count(const char* entry, spinfer_status_t s) {
  Tally* t = tally(entry);
  (s == SPINFER_STATUS_SUCCESS ? t->accepted : t->refused)++;
}

// A failed call must give a real status (not INTERNAL_ERROR) and a message.
inline void expect_clean_failure(spinfer_status_t s, const char* what) {
  expect(s != SPINFER_STATUS_SUCCESS, what);
  expect(int(s) > 0 && int(s) < int(SPINFER_STATUS_INTERNAL_ERROR), "failure status out of range or INTERNAL_ERROR");
  expect(spinfer_last_error_message()[0] != '\0', "failure without a message");
}

// A matrix the library accepted: it validates again, decodes without reading out of
// bounds (ASan watches), re-encodes to the very same arrays (the format is
// canonical), and the host SpMM agrees with a float64 product over the decoded W.
inline void check_accepted(const HostMatrix& m, const spinfer_matrix_t* handle) {
  validate(m);  // throws -> uncaught -> crash report: the loader let a bad matrix through
  expect(spinfer_matrix_validate(handle) == SPINFER_STATUS_SUCCESS, "handle does not validate");
  std::vector<uint16_t> dense(size_t(m.rows * m.cols), 0x7e00);
  expect(spinfer_matrix_decode(handle, dense.data(), spinfer_dtype_t(m.dtype), m.cols) ==
             SPINFER_STATUS_SUCCESS,
         "decode of an accepted matrix failed");
  const HostMatrix again = encode(dense.data(), m.dtype, m.rows, m.cols, m.cols, m.dtype);
  expect(again.values == m.values && again.bitmaps == m.bitmaps &&
             again.group_offsets == m.group_offsets && again.nnz == m.nnz,
         "encode(decode(m)) != m");

  // y = x * W^T for two tokens, against float64.
  const int64_t n = 2;
  std::vector<float> x(size_t(n * m.cols)), y(size_t(n * m.rows), NAN);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 7) - 3) * 0.25f;
  spinfer_context_t* ctx = nullptr;
  expect(spinfer_context_create(&ctx, SPINFER_BACKEND_HOST) == SPINFER_STATUS_SUCCESS, "context");
  expect(spinfer_spmm(ctx, handle, x.data(), n, m.cols, nullptr, y.data(), m.rows, SPINFER_DTYPE_F32,
                      nullptr) == SPINFER_STATUS_SUCCESS,
         "spmm on an accepted matrix failed");
  spinfer_context_destroy(ctx);
  // fp32 accumulation: |error| <= (K + 2) * 2^-23 * sum |w * x| per output.
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = 0; r < m.rows; ++r) {
      double ref = 0, absum = 0;
      for (int64_t k = 0; k < m.cols; ++k) {
        const double p = double(storage_to_float(dense[size_t(r * m.cols + k)], m.dtype)) *
                         x[size_t(t * m.cols + k)];
        ref += p;
        absum += std::fabs(p);
      }
      if (!(absum < 1e30)) continue;  // NaN / Inf / fp32 overflow: no exact claim
      const double got = y[size_t(t * m.rows + r)];
      expect(std::fabs(got - ref) <= double(m.cols + 2) * 1.2e-7 * absum + 1e-30,
             "host SpMM disagrees with the float64 reference");
    }
}

}  // namespace spinfer::fuzz
