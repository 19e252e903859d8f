// Matrices: encode, decode, info, validate, from and to raw arrays, destroy.
#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>

#include "format/encode.hpp"
#include "format/stats.hpp"
#include "format/validate.hpp"
#include "guard.hpp"
#include "handles.hpp"

using spinfer::require;
using spinfer::capi::guard;
using spinfer::capi::require_dtype;
using spinfer::capi::require_not_null;
using spinfer::capi::require_storage_dtype;

namespace spinfer::capi {

const HostMatrix& require_host_matrix(const spinfer_matrix_t* m, const char* what) {
  require_not_null(m, what);
  const HostMatrix* h = m->host();
  require(h != nullptr, SPINFER_STATUS_WRONG_LOCATION,
          [&] { return std::string(what) + " lives on a GPU; download it to the host first"; });
  return *h;
}

}  // namespace spinfer::capi

extern "C" {

spinfer_status_t spinfer_matrix_encode(spinfer_matrix_t** out, const void* dense,
                                       spinfer_dtype_t dense_dtype, int64_t rows, int64_t cols,
                                       int64_t ld, spinfer_dtype_t storage_dtype) {
  if (out) *out = nullptr;
  return guard([&] {
    require_not_null(out, "out");
    auto m = std::make_unique<spinfer_matrix>();
    m->storage = spinfer::encode(dense, require_dtype(dense_dtype, "dense"), rows, cols, ld,
                                 require_storage_dtype(storage_dtype, "storage dtype"));
    *out = m.release();
  });
}

spinfer_status_t spinfer_matrix_decode(const spinfer_matrix_t* matrix, void* dense,
                                       spinfer_dtype_t dense_dtype, int64_t ld) {
  return guard([&] {
    const auto& h = spinfer::capi::require_host_matrix(matrix, "matrix");
    spinfer::decode(h, dense, require_dtype(dense_dtype, "dense"), ld);
  });
}

spinfer_status_t spinfer_matrix_info_init(spinfer_matrix_info_t* info) {
  return guard([&] {
    require_not_null(info, "info");
    *info = spinfer_matrix_info_t{};
    info->struct_size = sizeof(spinfer_matrix_info_t);
  });
}

spinfer_status_t spinfer_matrix_get_info(const spinfer_matrix_t* matrix, spinfer_matrix_info_t* info) {
  return guard([&] {
    require_not_null(matrix, "matrix");
    require_not_null(info, "info");
    require(info->struct_size >= offsetof(spinfer_matrix_info_t, rows) + sizeof(int64_t),
            SPINFER_STATUS_INVALID_ARGUMENT,
            "info->struct_size is not set; set it to sizeof(spinfer_matrix_info_t)");
    spinfer_matrix_info_t full{};
    full.struct_size = info->struct_size;
    full.format_version = spinfer::kFormatVersion;
    if (const auto* h = matrix->host()) {
      full.rows = h->rows;
      full.cols = h->cols;
      full.dtype = spinfer_dtype_t(h->dtype);
      full.location = SPINFER_LOCATION_HOST;
      full.device = -1;
      full.format_version = h->format_version;
      const auto s = spinfer::matrix_stats(h->rows, h->cols, h->nnz, h->values.size(),
                                           h->bitmaps.size(), h->group_offsets.size());
      full.nnz = s.nnz;
      full.sparsity = s.sparsity;
      full.bytes = s.bytes;
      full.dense_bytes = s.dense_bytes;
      full.compression_ratio = s.compression_ratio;
      full.values_count = h->values.size();
      full.bitmaps_count = h->bitmaps.size();
      full.offsets_count = h->group_offsets.size();
    } else {
      const auto d = spinfer::cuda::summary(*matrix->device());
      full.rows = d.rows;
      full.cols = d.cols;
      full.dtype = spinfer_dtype_t(d.dtype);
      full.location = SPINFER_LOCATION_DEVICE;
      full.device = d.device;
      const auto s = spinfer::matrix_stats(d.rows, d.cols, d.nnz, d.values_count, d.bitmaps_count,
                                           d.offsets_count);
      full.nnz = s.nnz;
      full.sparsity = s.sparsity;
      full.bytes = s.bytes;
      full.dense_bytes = s.dense_bytes;
      full.compression_ratio = s.compression_ratio;
      full.values_count = d.values_count;
      full.bitmaps_count = d.bitmaps_count;
      full.offsets_count = d.offsets_count;
    }
    // An older, smaller struct gets the fields it has.
    std::memcpy(info, &full, std::min(info->struct_size, sizeof(full)));
  });
}

spinfer_status_t spinfer_matrix_validate(const spinfer_matrix_t* matrix) {
  return guard([&] { spinfer::validate(spinfer::capi::require_host_matrix(matrix, "matrix")); });
}

spinfer_status_t spinfer_matrix_from_arrays(spinfer_matrix_t** out, int64_t rows, int64_t cols,
                                            spinfer_dtype_t dtype, uint32_t format_version,
                                            const uint16_t* values, uint64_t values_count,
                                            const uint64_t* bitmaps, uint64_t bitmaps_count,
                                            const uint64_t* group_offsets, uint64_t offsets_count) {
  if (out) *out = nullptr;
  return guard([&] {
    require_not_null(out, "out");
    require(values != nullptr || values_count == 0, SPINFER_STATUS_INVALID_ARGUMENT, "values is NULL");
    require_not_null(bitmaps, "bitmaps");
    require_not_null(group_offsets, "group_offsets");
    spinfer::HostMatrix h;
    h.rows = rows;
    h.cols = cols;
    h.dtype = require_storage_dtype(dtype, "matrix dtype");
    h.format_version = format_version;
    require(format_version == spinfer::kFormatVersion, SPINFER_STATUS_UNSUPPORTED_VERSION, [&] {
      return "TCA-BME format version " + std::to_string(format_version) +
             " is not supported (this library reads version " + std::to_string(spinfer::kFormatVersion) + ")";
    });
    // Check the lengths against the shape before copying, so absurd counts fail cleanly.
    require(rows >= 1 && cols >= 1 && rows <= (int64_t(1) << 31) && cols <= (int64_t(1) << 31),
            SPINFER_STATUS_CORRUPT_DATA, "corrupt TCA-BME matrix: invalid shape");
    const auto grid = h.grid();
    require(bitmaps_count == uint64_t(grid.bitmap_count()), SPINFER_STATUS_CORRUPT_DATA, [&] {
      return "corrupt TCA-BME matrix: bitmaps_count " + std::to_string(bitmaps_count) + ", expected " +
             std::to_string(grid.bitmap_count());
    });
    require(offsets_count == uint64_t(grid.groups() + 1), SPINFER_STATUS_CORRUPT_DATA, [&] {
      return "corrupt TCA-BME matrix: offsets_count " + std::to_string(offsets_count) + ", expected " +
             std::to_string(grid.groups() + 1);
    });
    require(values_count <= uint64_t(rows) * uint64_t(cols) + uint64_t(grid.groups()) * 8,
            SPINFER_STATUS_CORRUPT_DATA, "corrupt TCA-BME matrix: values_count is too large");
    h.values.assign(values, values + values_count);
    h.bitmaps.assign(bitmaps, bitmaps + bitmaps_count);
    h.group_offsets.assign(group_offsets, group_offsets + offsets_count);
    for (uint64_t b : h.bitmaps) h.nnz += std::popcount(b);
    spinfer::validate(h);
    auto m = std::make_unique<spinfer_matrix>();
    m->storage = std::move(h);
    *out = m.release();
  });
}

spinfer_status_t spinfer_matrix_copy_arrays(const spinfer_matrix_t* matrix, uint16_t* values,
                                            uint64_t values_count, uint64_t* bitmaps,
                                            uint64_t bitmaps_count, uint64_t* group_offsets,
                                            uint64_t offsets_count) {
  return guard([&] {
    const auto& h = spinfer::capi::require_host_matrix(matrix, "matrix");
    // Every buffer is checked before any is written, so a failure leaves them untouched.
    auto check = [](const auto* buffer, uint64_t count, const auto& array, const char* name) {
      require(buffer != nullptr || count == 0, SPINFER_STATUS_INVALID_ARGUMENT, [&] {
        return std::string(name) + " is NULL but its count is " + std::to_string(count) +
               " (pass count 0 to skip it)";
      });
      require(buffer == nullptr || count == array.size(), SPINFER_STATUS_SHAPE_MISMATCH, [&] {
        return std::string(name) + " holds " + std::to_string(count) + " elements, the matrix has " +
               std::to_string(array.size());
      });
    };
    check(values, values_count, h.values, "values");
    check(bitmaps, bitmaps_count, h.bitmaps, "bitmaps");
    check(group_offsets, offsets_count, h.group_offsets, "group_offsets");
    if (values) std::copy(h.values.begin(), h.values.end(), values);
    if (bitmaps) std::copy(h.bitmaps.begin(), h.bitmaps.end(), bitmaps);
    if (group_offsets) std::copy(h.group_offsets.begin(), h.group_offsets.end(), group_offsets);
  });
}

spinfer_status_t spinfer_matrix_destroy(spinfer_matrix_t* matrix) {
  return guard([&] { delete matrix; });
}

}  // extern "C"
