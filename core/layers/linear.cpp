#include "layers/linear.hpp"

#include "common/error.hpp"

namespace spinfer::layers {

Linear::Linear(Backend& backend, const MatrixInput& w, const std::vector<float>& bias,
               Activation act, void* stream)
    : backend_(backend), act_(act) {
  bind_matrix(backend, w, w_, stream, "w");
  require(bias.empty() || int64_t(bias.size()) == w_.weight.rows, SPINFER_STATUS_SHAPE_MISMATCH,
          "bias length does not match the matrix rows");
  bias_ = to_backend(backend, bias, backend.act_dtype(), stream);
}

void Linear::forward(const void* x, int64_t n, const void* residual, void* y, void* stream) {
  if (n == 0) return;
  const int64_t m = w_.weight.rows;
  backend_.linear(w_.weight, x, n, w_.weight.cols, bias_.get(), y, m, stream);
  backend_.epilogue(y, n, m, m, act_, residual, m, stream);
}

}  // namespace spinfer::layers
