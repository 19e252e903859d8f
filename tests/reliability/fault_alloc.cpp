// Test-only replacement of the global operator new / delete: every allocation asks
// the fault-injection hook whether it must fail (Site::host_alloc), and a counter of
// live blocks lets the tests prove that a failed call leaks nothing. Linked only into
// the fault-injection test executables, never into libspinfer.
#include <atomic>
#include <cstdlib>
#include <new>

#include "common/fault_injection.hpp"
#include "fault_alloc.hpp"

namespace {
std::atomic<int64_t> live_blocks{0};

void* allocate(std::size_t n) noexcept {
  if (spinfer::fault::should_fail(spinfer::fault::Site::host_alloc)) return nullptr;
  void* p = std::malloc(n ? n : 1);
  if (p) live_blocks.fetch_add(1, std::memory_order_relaxed);
  return p;
}
void release(void* p) noexcept {
  if (!p) return;
  live_blocks.fetch_sub(1, std::memory_order_relaxed);
  std::free(p);
}
}  // namespace

namespace spinfer::test {
int64_t live_allocations() { return live_blocks.load(); }
}  // namespace spinfer::test

void* operator new(std::size_t n) {
  if (void* p = allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
