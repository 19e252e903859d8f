// Unstructured magnitude pruning: the one implementation behind spinfer_prune_magnitude,
// the converter (spinfer_convert_model), `spinfer demo` and spinfer.torch.
#pragma once

#include <cstdint>

namespace spinfer {

// Sets to zero the round(sparsity * n) smallest-magnitude entries of each group of n
// entries of the row-major [rows, cols] float matrix `w` (leading dimension ld): the
// whole matrix is one group, or each row is (`per_row`). round() is to nearest, ties to
// even, as Python's. The threshold is strict: an entry is pruned iff its magnitude is
// below the smallest magnitude that is kept, so entries tied at the threshold are all
// kept and never more than the asked-for count is pruned (fewer when ties straddle it).
// Zeros already there count among the pruned; NaN is never pruned. Returns the number
// of zeros in `w` afterwards. INVALID_ARGUMENT unless 0 <= sparsity < 1.
int64_t prune_magnitude(float* w, int64_t rows, int64_t cols, int64_t ld, double sparsity, bool per_row);

}  // namespace spinfer
