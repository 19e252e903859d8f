// Fault injection for tests: lets a test make the N-th allocation or file operation
// fail, to prove that every call returns a status, leaks nothing and leaves its
// handles usable (docs/reliability.md).
//
// Library code asks `fault::should_fail(Site)` at each point that can fail in real
// life (opening, reading, writing, renaming a file; device and pinned allocations).
// Generic host allocation is failed by the test executable's own replacement of the
// global operator new, which asks should_fail(Site::host_alloc).
//
// Only builds with -DSPINFER_FAULT_INJECTION=ON compile the hook; in every other
// build should_fail is a constexpr `false` and costs nothing.
#pragma once

#include <cstdint>

namespace spinfer::fault {

// Points where a real failure can happen.
enum class Site : unsigned {
  file_open = 0,   // opening a file for reading or writing
  file_read,       // reading a file's bytes
  file_write,      // writing or flushing a file's bytes
  file_rename,     // the atomic rename of a written file
  host_alloc,      // operator new (replaced in test executables only)
  device_alloc,    // cudaMalloc
  pinned_alloc,    // cudaMallocHost
  count
};

// Bit of `site` in a site mask.
constexpr unsigned site_bit(Site site) { return 1u << unsigned(site); }
constexpr unsigned kAllSites = (1u << unsigned(Site::count)) - 1u;

#if SPINFER_FAULT_INJECTION

// True when the armed plan says this occurrence of `site` must fail. Thread-safe,
// never allocates, never throws.
bool should_fail(Site site) noexcept;

// Test control. `arm` starts counting the occurrences of the sites in `site_mask`
// (from 0); occurrence `fail_at` fails, and so does every later one when `persistent`
// (a lasting out-of-memory condition) -- otherwise only that one.
void arm(unsigned site_mask, uint64_t fail_at, bool persistent) noexcept;
// Stops injecting. Returns how many occurrences of the armed sites were seen.
uint64_t disarm() noexcept;
// Number of failures injected since the last arm().
uint64_t injected() noexcept;

#else

constexpr bool should_fail(Site) noexcept { return false; }

#endif

}  // namespace spinfer::fault

// `call` (an expression returning an error code), unless the armed plan fails this
// occurrence of `site`: then `failure` without making the call. With fault injection
// compiled out this is just `call`. Example:
//   check_cuda(SPINFER_FAULT_OR(device_alloc, cudaErrorMemoryAllocation, cudaMalloc(&p, n)), ...)
#define SPINFER_FAULT_OR(site, failure, call) \
  (::spinfer::fault::should_fail(::spinfer::fault::Site::site) ? (failure) : (call))
