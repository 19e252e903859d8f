#include "convert/convert_job.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

#include "common/error.hpp"
#include "convert/bitmask_import.hpp"
#include "format/encode.hpp"
#include "format/prune.hpp"
#include "format/validate.hpp"
#include "io/matrix_file.hpp"

namespace spinfer::convert {
namespace {

uint16_t storage_bits(float v, DType storage) {
  const uint16_t b = float_to_storage(v, storage);
  return storage_is_zero(b) ? 0 : b;  // decode gives +0 for every element not stored
}

}  // namespace

void verify_matrix(const HostMatrix& m, const RowSource& source, const std::string& name) {
  std::vector<uint16_t> got(size_t(kGroupTile * m.cols));
  std::vector<float> want(size_t(kGroupTile * m.cols));
  for (int64_t row0 = 0; row0 < m.rows; row0 += kGroupTile) {
    const int64_t count = std::min<int64_t>(kGroupTile, m.rows - row0);
    decode_rows(m, row0, count, got.data());
    source(row0, count, want.data());
    for (int64_t i = 0; i < count * m.cols; ++i) {
      const uint16_t expected = storage_bits(want[size_t(i)], m.dtype);
      if (got[size_t(i)] != expected) {
        char detail[160];
        std::snprintf(detail, sizeof detail, "element (%lld, %lld) decodes to 0x%04x, the source gives 0x%04x",
                      (long long)(row0 + i / m.cols), (long long)(i % m.cols), got[size_t(i)], expected);
        throw Error(SPINFER_STATUS_INTERNAL_ERROR, "verification of matrix '" + name + "' failed: " + detail);
      }
    }
  }
}

namespace {

std::unique_ptr<OutputUnit> dense_unit(const std::string& name, DType dtype, std::vector<uint64_t> shape,
                                       std::vector<uint8_t> bytes) {
  auto unit = std::make_unique<OutputUnit>();
  unit->bytes = std::move(bytes);
  unit->tensors.push_back({name, dtype_name(dtype), std::move(shape), unit->bytes.data(), unit->bytes.size()});
  return unit;
}

JobResult matrix_job(const Job& job, const ConvertOptions& o) {
  JobResult r;
  HostMatrix m;
  RowSource source;
  std::vector<float> full;  // the whole weight as floats, when it is pruned or dense
  BitmaskTensor bm;
  int64_t rows = 0, cols = 0;
  if (job.bitmask) {
    bm = check_bitmask_tensor(job.prefix, job.shape, job.source, job.bitmask_bits, job.row_offsets);
    rows = bm.rows;
    cols = bm.cols;
  } else {
    rows = int64_t(job.source.entry->shape[0]);
    cols = int64_t(job.source.entry->shape[1]);
  }
  require(rows >= 1 && cols >= 1, SPINFER_STATUS_CORRUPT_DATA,
          [&] { return "weight '" + job.name + "' has an empty shape"; });
  if (job.bitmask && !job.prune) {
    m = import_bitmask(bm, o.dtype);
    validate(m);
    source = [&](int64_t row0, int64_t count, float* out) { expand_rows(bm, row0, count, out); };
  } else {
    full.resize(size_t(rows * cols));
    if (job.bitmask) {
      expand_rows(bm, 0, rows, full.data());
    } else {
      DType dt;
      float_dtype(job.source.entry->dtype, &dt);
      const uint8_t* data = job.source.data();
      for (int64_t i = 0; i < rows * cols; ++i) full[size_t(i)] = load_float(data, dt, i);
    }
    if (job.prune) prune_magnitude(full.data(), rows, cols, cols, o.sparsity, o.per_row);
    m = encode(full.data(), DType::f32, rows, cols, cols, o.dtype);
    source = [&](int64_t row0, int64_t count, float* out) {
      std::copy(full.begin() + row0 * cols, full.begin() + (row0 + count) * cols, out);
    };
  }
  if (o.verify) verify_matrix(m, source, job.name);
  r.nnz = m.nnz;
  r.elements = rows * cols;
  const uint64_t dense_bytes = uint64_t(rows * cols) * 2;
  if (m.bytes() >= dense_bytes) {
    // Encoding would not save anything (an unpruned LM head): written dense, in the
    // storage dtype; the loader encodes it when the model is loaded.
    std::vector<uint8_t> bytes(static_cast<size_t>(dense_bytes));
    decode_rows(m, 0, rows, reinterpret_cast<uint16_t*>(bytes.data()));
    r.unit = dense_unit(job.name, o.dtype, {uint64_t(rows), uint64_t(cols)}, std::move(bytes));
    r.left_dense = true;
    r.note = "left dense: TCA-BME would take " + std::to_string(m.bytes()) + " bytes, dense " +
             std::to_string(dense_bytes);
    return r;
  }
  auto unit = std::make_unique<OutputUnit>();
  unit->matrix = std::move(m);
  unit->metadata.emplace_back(io::kMatrixMetadataPrefix + job.name, io::matrix_metadata(unit->matrix));
  io::append_matrix_tensors(job.name, unit->matrix, unit->tensors);
  r.unit = std::move(unit);
  r.matrix = true;
  char note[96];
  std::snprintf(note, sizeof note, "%s, sparsity %.3f", job.bitmask ? (job.prune ? "imported, pruned" : "imported")
                                                                     : (job.prune ? "pruned" : "encoded"),
                1.0 - double(r.nnz) / double(r.elements));
  r.note = note;
  return r;
}

JobResult dense_job(const Job& job, const ConvertOptions& o) {
  JobResult r;
  std::vector<uint8_t> bytes;
  std::vector<uint64_t> shape;
  if (job.bitmask) {  // a compressed weight that stays dense (an embedding, say)
    const BitmaskTensor bm = check_bitmask_tensor(job.prefix, job.shape, job.source, job.bitmask_bits, job.row_offsets);
    std::vector<float> row(size_t(bm.cols));
    bytes.resize(size_t(bm.rows * bm.cols) * 2);
    for (int64_t i = 0; i < bm.rows; ++i) {
      expand_rows(bm, i, 1, row.data());
      for (int64_t c = 0; c < bm.cols; ++c) {
        const uint16_t v = float_to_storage(row[size_t(c)], o.dtype);
        std::memcpy(bytes.data() + (i * bm.cols + c) * 2, &v, 2);
      }
    }
    shape = {uint64_t(bm.rows), uint64_t(bm.cols)};
    r.note = "imported dense";
  } else {
    DType dt;
    float_dtype(job.source.entry->dtype, &dt);
    const int64_t n = int64_t(job.source.elements());
    bytes.resize(size_t(n) * 2);
    if (dt == o.dtype) {
      std::memcpy(bytes.data(), job.source.data(), bytes.size());
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t v = float_to_storage(load_float(job.source.data(), dt, i), o.dtype);
        std::memcpy(bytes.data() + i * 2, &v, 2);
      }
    }
    shape = job.source.entry->shape;
  }
  r.unit = dense_unit(job.name, o.dtype, std::move(shape), std::move(bytes));
  return r;
}

JobResult copy_job(const Job& job) {
  JobResult r;
  auto unit = std::make_unique<OutputUnit>();
  unit->bytes.assign(job.source.data(), job.source.data() + job.source.bytes());
  unit->tensors.push_back({job.name, job.source.entry->dtype, job.source.entry->shape, unit->bytes.data(),
                           unit->bytes.size()});
  r.unit = std::move(unit);
  return r;
}

}  // namespace

JobResult run_job(const Job& job, const ConvertOptions& options) {
  JobResult r = job.kind == Job::Kind::matrix ? matrix_job(job, options)
                : job.kind == Job::Kind::dense ? dense_job(job, options)
                                               : copy_job(job);
  // The source pages are not needed any more (they are file-backed: read again if used).
  for (const TensorRef* t : {&job.source, &job.shape, &job.bitmask_bits, &job.row_offsets})
    if (t->file) t->release();
  return r;
}

}  // namespace spinfer::convert
