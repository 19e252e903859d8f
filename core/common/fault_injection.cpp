// State of the fault-injection hook (compiled only with SPINFER_FAULT_INJECTION=ON).
// Plain atomics: should_fail runs inside operator new, so it must not allocate or lock.
#include "common/fault_injection.hpp"

#if SPINFER_FAULT_INJECTION

#include <atomic>

namespace spinfer::fault {
namespace {
std::atomic<unsigned> armed_mask{0};
std::atomic<uint64_t> fail_at_occurrence{0};
std::atomic<bool> keep_failing{false};
std::atomic<uint64_t> seen{0};
std::atomic<uint64_t> failed{0};
}  // namespace

bool should_fail(Site site) noexcept {
  if ((armed_mask.load(std::memory_order_acquire) & site_bit(site)) == 0) return false;
  const uint64_t n = seen.fetch_add(1, std::memory_order_relaxed);
  const uint64_t target = fail_at_occurrence.load(std::memory_order_relaxed);
  const bool fail = n == target || (n > target && keep_failing.load(std::memory_order_relaxed));
  if (fail) failed.fetch_add(1, std::memory_order_relaxed);
  return fail;
}

void arm(unsigned site_mask, uint64_t fail_at, bool persistent) noexcept {
  armed_mask.store(0, std::memory_order_release);
  seen.store(0);
  failed.store(0);
  fail_at_occurrence.store(fail_at);
  keep_failing.store(persistent);
  armed_mask.store(site_mask & kAllSites, std::memory_order_release);
}

uint64_t disarm() noexcept {
  armed_mask.store(0, std::memory_order_release);
  return seen.load();
}

uint64_t injected() noexcept { return failed.load(); }

}  // namespace spinfer::fault

#endif  // SPINFER_FAULT_INJECTION
