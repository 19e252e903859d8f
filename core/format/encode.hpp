// Dense <-> TCA-BME conversion on the host.
#pragma once

#include "format/tca_bme.hpp"

namespace spinfer {

// Encodes a dense row-major [rows, cols] matrix (leading dimension ld, dtype
// `dense_dtype`) keeping every element that is non-zero after rounding to
// `storage`. Throws Error on bad arguments.
HostMatrix encode(const void* dense, DType dense_dtype, int64_t rows, int64_t cols, int64_t ld,
                  DType storage);

// Writes the dense form of `m` into `dense` ([rows, cols], leading dimension ld).
void decode(const HostMatrix& m, void* dense, DType dense_dtype, int64_t ld);

// Rows [row0, row0 + count) of the dense form of a valid `m`, as storage bits of m.dtype
// ([count, cols] row-major; +0 where nothing is stored). Reads only the GroupTiles those
// rows cross, so a caller can check or expand a large matrix a strip at a time.
void decode_rows(const HostMatrix& m, int64_t row0, int64_t count, uint16_t* out);

}  // namespace spinfer
