// Counter of the test executable's replaced operator new (fault_alloc.cpp).
#pragma once

#include <cstdint>

namespace spinfer::test {
// Blocks allocated with operator new and not yet deleted, process-wide.
int64_t live_allocations();
}  // namespace spinfer::test
