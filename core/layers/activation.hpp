// Scalar activations on the host, in the forms Hugging Face transformers uses.
#pragma once

#include <cmath>

#include "layers/backend.hpp"

namespace spinfer::layers {

inline float apply_activation(Activation act, float x) {
  switch (act) {
    case Activation::relu: return x > 0.0f ? x : 0.0f;
    case Activation::gelu: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case Activation::gelu_tanh: {
      const float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + std::tanh(inner));
    }
    case Activation::silu: return x / (1.0f + std::exp(-x));
    default: return x;
  }
}

}  // namespace spinfer::layers
