// Fork-join parallel loop for the host backend, on a pool of workers started once per
// process. Each call offers its items to idle workers and works on them itself too; it
// waits only for the workers that took part, never for another call's items, and
// allocates nothing (concurrent and nested calls are safe).
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
