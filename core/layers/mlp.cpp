#include "layers/mlp.hpp"

#include "common/error.hpp"

namespace spinfer::layers {

Mlp::Mlp(Backend& backend, const MlpConfig& config, const MatrixInput& gate, const MatrixInput& up,
         const MatrixInput& down, const std::vector<float>& up_bias,
         const std::vector<float>& down_bias, void* stream)
    : backend_(backend), config_(config) {
  require(up.present() && down.present(), SPINFER_STATUS_INVALID_ARGUMENT,
          "MLP needs the up (fc1) and down (fc2) matrices");
  inter_ = up.rows();
  hidden_ = up.cols();
  const auto shape = [](const MatrixInput& m) {
    return "[" + std::to_string(m.rows()) + ", " + std::to_string(m.cols()) + "]";
  };
  require(down.rows() == hidden_ && down.cols() == inter_, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
    // Name the odd one out: with a gate that agrees with down, up is the wrong one.
    const bool gate_fits_down = config.gated && gate.present() && gate.rows() == down.cols() &&
                                gate.cols() == down.rows();
    return std::string("MLP ") + (gate_fits_down ? "up" : "down") + " matrix does not fit: up is " +
           shape(up) + (config.gated && gate.present() ? ", gate is " + shape(gate) : std::string()) +
           ", down is " + shape(down) + "; expected up and gate [inter, hidden], down [hidden, inter]";
  });
  require(int64_t(up_bias.size()) == 0 || int64_t(up_bias.size()) == inter_,
          SPINFER_STATUS_SHAPE_MISMATCH, "MLP up bias must have inter elements");
  require(int64_t(down_bias.size()) == 0 || int64_t(down_bias.size()) == hidden_,
          SPINFER_STATUS_SHAPE_MISMATCH, "MLP down bias must have hidden elements");
  if (config.gated) {
    require(gate.present(), SPINFER_STATUS_INVALID_ARGUMENT, "a gated MLP needs the gate matrix");
    require(gate.rows() == inter_ && gate.cols() == hidden_, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
      return "MLP gate matrix is " + shape(gate) + " but up and down give [inter, hidden] = " + shape(up);
    });
    require(up_bias.empty(), SPINFER_STATUS_INVALID_ARGUMENT, "a gated MLP takes no up bias");
    fused_ = config.fuse_gate_up && can_concat_rows({gate, up});
    if (fused_) {
      bind_concat(backend, {gate, up}, gate_up_, stream);
    } else {
      bind_matrix(backend, gate, gate_, stream, "gate");
      bind_matrix(backend, up, up_, stream, "up");
    }
  } else {
    require(!gate.present(), SPINFER_STATUS_INVALID_ARGUMENT, "a plain MLP takes no gate matrix");
    bind_matrix(backend, up, up_, stream, "up");
  }
  bind_matrix(backend, down, down_, stream, "down");
  up_bias_ = to_backend(backend, up_bias, backend.act_dtype(), stream);
  down_bias_ = to_backend(backend, down_bias, backend.act_dtype(), stream);
}

// Leading dimensions are rounded up to 8 elements: the CUDA SpMM needs 16-byte rows.
static int64_t pad8(int64_t v) { return (v + 7) / 8 * 8; }

size_t Mlp::scratch_bytes(int64_t n) const {
  const size_t es = dtype_size(backend_.act_dtype());
  return 3 * Scratch::round(size_t(n * pad8(inter_)) * es);
}

void Mlp::forward(const void* x, int64_t n, void* out, Scratch& scratch, void* stream) {
  if (n == 0) return;
  const ScratchMark rewind_on_exit(scratch);
  const size_t es = dtype_size(backend_.act_dtype());
  const int64_t ld = pad8(inter_);
  void* h = scratch.take(size_t(n * ld) * es);
  if (!config_.gated) {
    backend_.linear(up_.weight, x, n, hidden_, up_bias_.get(), h, ld, stream);
    backend_.epilogue(h, n, inter_, ld, config_.activation, nullptr, 0, stream);
  } else if (fused_) {  // [gate | up] side by side in one row of 2 * inter (inter % 64 == 0)
    void* gu = scratch.take(size_t(n * 2 * inter_) * es);
    backend_.linear(gate_up_.weight, x, n, hidden_, nullptr, gu, 2 * inter_, stream);
    const void* up = static_cast<const unsigned char*>(gu) + size_t(inter_) * es;
    backend_.gated_activation(gu, 2 * inter_, up, 2 * inter_, n, inter_, config_.activation, h, ld, stream);
  } else {
    void* g = scratch.take(size_t(n * ld) * es);
    void* u = scratch.take(size_t(n * ld) * es);
    backend_.linear(gate_.weight, x, n, hidden_, nullptr, g, ld, stream);
    backend_.linear(up_.weight, x, n, hidden_, nullptr, u, ld, stream);
    backend_.gated_activation(g, ld, u, ld, n, inter_, config_.activation, h, ld, stream);
  }
  backend_.linear(down_.weight, h, n, ld, down_bias_.get(), out, hidden_, stream);
}

}  // namespace spinfer::layers
