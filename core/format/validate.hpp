// Checks every invariant of docs/format.md; throws Error(CORRUPT_DATA or
// UNSUPPORTED_VERSION) naming the first one broken.
#pragma once

#include "format/tca_bme.hpp"

namespace spinfer {

void validate(const HostMatrix& m);

}  // namespace spinfer
