// libFuzzer target: raw TCA-BME arrays through spinfer_matrix_from_arrays (the
// validator). Half the inputs are first "repaired" into a valid matrix and then
// broken in one chosen way, so the fuzzer reaches every invariant of the validator
// instead of failing at the first count check. Accepted matrices must satisfy every
// invariant (fuzz_common.hpp); rejected ones a clean status and message.
#include <fuzzer/FuzzedDataProvider.h>

#include <bit>
#include <cstdint>
#include <vector>

#include "fuzz_common.hpp"

using namespace spinfer::fuzz;
using spinfer::HostMatrix;

namespace {

// Makes h valid: bitmaps masked to the matrix, offsets from the popcounts, zero
// values replaced, padding cleared, nnz recounted.
void repair(HostMatrix& h) {
  const spinfer::TileGrid grid = h.grid();
  h.bitmaps.resize(size_t(grid.bitmap_count()));
  h.group_offsets.assign(size_t(grid.groups()) + 1, 0);
  std::vector<uint16_t> values;
  size_t next = 0;
  h.nnz = 0;
  for (int64_t g = 0; g < grid.groups(); ++g) {
    h.group_offsets[size_t(g)] = values.size();
    for (int b = 0; b < spinfer::kBitmapsPerGroup; ++b) {
      uint64_t& bits = h.bitmaps[size_t(g * spinfer::kBitmapsPerGroup + b)];
      const int64_t r0 = g / grid.group_cols() * spinfer::kGroupTile + spinfer::bitmap_row_in_group(b);
      const int64_t c0 = g % grid.group_cols() * spinfer::kGroupTile + spinfer::bitmap_col_in_group(b);
      for (int p = 0; p < 64; ++p)
        if (r0 + p / 8 >= h.rows || c0 + p % 8 >= h.cols) bits &= ~(uint64_t(1) << p);
      for (int i = std::popcount(bits); i > 0; --i) {
        uint16_t v = next < h.values.size() ? h.values[next] : uint16_t(0x3c00);
        ++next;
        if (spinfer::storage_is_zero(v)) v = 0x3c00;
        values.push_back(v);
      }
      h.nnz += std::popcount(bits);
    }
    values.resize(spinfer::round_up(values.size(), spinfer::kValueAlign), 0);
  }
  h.group_offsets.back() = values.size();
  h.values = std::move(values);
}

// Breaks one thing of a valid h, chosen by the fuzzer.
void break_one(HostMatrix& h, FuzzedDataProvider& in) {
  auto pick = [&](size_t n) { return n ? in.ConsumeIntegralInRange<size_t>(0, n - 1) : 0; };
  switch (in.ConsumeIntegralInRange<int>(0, 9)) {
    case 0: if (!h.bitmaps.empty()) h.bitmaps[pick(h.bitmaps.size())] ^= uint64_t(1) << in.ConsumeIntegralInRange<int>(0, 63); break;
    case 1: h.group_offsets[pick(h.group_offsets.size())] += in.ConsumeIntegralInRange<int>(-9, 9); break;
    case 2: if (!h.values.empty()) h.values[pick(h.values.size())] = in.ConsumeBool() ? 0 : 0x8000; break;
    case 3: if (!h.values.empty()) h.values[pick(h.values.size())] = in.ConsumeIntegral<uint16_t>(); break;
    case 4: h.nnz += in.ConsumeIntegralInRange<int>(-2, 2); break;
    case 5: h.values.resize(h.values.size() + pick(17)); break;
    case 6: if (!h.values.empty()) h.values.resize(h.values.size() - 1 - pick(h.values.size())); break;
    case 7: h.bitmaps.resize(h.bitmaps.size() + (in.ConsumeBool() ? 1 : size_t(-1))); break;
    case 8: h.group_offsets.back() = in.ConsumeIntegral<uint64_t>(); break;
    default: break;  // left valid
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  HostMatrix h;
  const int shape_kind = in.ConsumeIntegralInRange<int>(0, 7);
  if (shape_kind == 0) {  // anything, including negative and absurd shapes
    h.rows = in.ConsumeIntegral<int64_t>();
    h.cols = in.ConsumeIntegral<int64_t>();
  } else {
    h.rows = in.ConsumeIntegralInRange<int64_t>(1, 200);
    h.cols = in.ConsumeIntegralInRange<int64_t>(1, 200);
  }
  const int dtype = in.ConsumeIntegralInRange<int>(-1, 3);
  const uint32_t version = in.ConsumeBool() ? SPINFER_FORMAT_VERSION : in.ConsumeIntegral<uint32_t>();
  const bool shaped = shape_kind != 0 && in.ConsumeBool();
  // Raw arrays from the input (sizes bounded so a run stays fast).
  h.values.resize(in.ConsumeIntegralInRange<size_t>(0, 4096));
  for (auto& v : h.values) v = in.ConsumeIntegral<uint16_t>();
  h.bitmaps.resize(in.ConsumeIntegralInRange<size_t>(0, 2048));
  for (auto& b : h.bitmaps) b = in.ConsumeIntegral<uint64_t>();
  h.group_offsets.resize(in.ConsumeIntegralInRange<size_t>(0, 64));
  for (auto& o : h.group_offsets) o = in.ConsumeIntegral<uint64_t>() % (h.values.size() + 9);
  if (shaped) {
    repair(h);
    break_one(h, in);
  }
  if (h.group_offsets.empty() && in.ConsumeBool()) h.group_offsets.push_back(0);

  spinfer_matrix_t* m = reinterpret_cast<spinfer_matrix_t*>(1);
  const spinfer_status_t s = spinfer_matrix_from_arrays(
      &m, h.rows, h.cols, spinfer_dtype_t(dtype), version, h.values.empty() ? nullptr : h.values.data(),
      h.values.size(), h.bitmaps.empty() ? nullptr : h.bitmaps.data(), h.bitmaps.size(),
      h.group_offsets.empty() ? nullptr : h.group_offsets.data(), h.group_offsets.size());
  count("spinfer_matrix_from_arrays", s);
  if (s != SPINFER_STATUS_SUCCESS) {
    expect_clean_failure(s, "from_arrays");
    expect(m == nullptr, "failed from_arrays left a handle");
    return 0;
  }
  h.dtype = spinfer::DType(dtype);
  h.format_version = version;
  h.nnz = 0;
  for (uint64_t b : h.bitmaps) h.nnz += std::popcount(b);
  check_accepted(h, m);
  spinfer_matrix_destroy(m);
  return 0;
}
