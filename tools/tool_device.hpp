// The CUDA half of `spinfer demo`: device buffers and timing. Built with the CUDA
// runtime when the library has CUDA; otherwise a stub that is never reached.
#pragma once

#include <cstdint>
#include <vector>

#include "spinfer.h"

namespace spinfer_tool {

// Uploads `w` (unless it already lives on the device), copies x (rounded to dtype) to
// the GPU, runs SpMM once to warm up, returns the median time of `iters` runs in ms (CUDA
// events around each call) and the result (as float) in y.
double run_on_device(spinfer_context_t* ctx, const spinfer_matrix_t* w, const std::vector<float>& x,
                     int64_t n, int64_t rows, int64_t cols, spinfer_dtype_t dtype,
                     std::vector<float>& y, int iters = 20);

// x rounded to the 16-bit dtype and back.
float round_to(float x, spinfer_dtype_t dtype);

}  // namespace spinfer_tool
