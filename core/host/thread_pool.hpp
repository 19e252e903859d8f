// Fork-join parallel loop for the host backend. Each call starts its own workers, so
// concurrent calls from many threads share no state.
#pragma once

#include <cstdint>
#include <functional>

namespace spinfer::host {

// Number of threads `requested` resolves to (0 = hardware concurrency, at least 1).
int resolve_threads(int requested);

// Runs body(i) for every i in [0, count) on up to `threads` threads; returns when all
// are done. The first exception thrown by a body is rethrown here.
void parallel_for(int64_t count, int threads, const std::function<void(int64_t)>& body);

}  // namespace spinfer::host
