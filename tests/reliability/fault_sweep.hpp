// Drives one C API call through every failure point the fault-injection hook can
// reach: run it with occurrence 0 of the armed sites failing, then occurrence 1, ...
// until a run passes every point. After each failed run it checks the status, the
// message, that nothing leaked (live operator-new blocks) and that the same call,
// unarmed, then succeeds with the same handles (they stayed usable).
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "common/fault_injection.hpp"
#include "fault_alloc.hpp"
#include "spinfer.h"

namespace spinfer::test {

// A call under test. `run` makes the call (and nothing else that allocates);
// `check(ok)` inspects its outputs without allocating and returns nullptr when they
// are right (ok: the call succeeded, so outputs must be correct; !ok: outputs must be
// NULL / untouched) or a static string naming what is wrong; `release` frees what a
// successful run produced.
struct FaultScenario {
  const char* name;
  std::function<spinfer_status_t()> run;
  std::function<const char*(bool ok)> check;
  std::function<void()> release;
};

struct SweepResult {
  uint64_t points = 0;    // failure points found (= runs with an injected fault)
  uint64_t errors = 0;    // runs that returned an error status with a message
  uint64_t absorbed = 0;  // runs that recovered from the fault and still succeeded
};

inline const char* mode_name(bool persistent) { return persistent ? "persistent" : "one-shot"; }

inline SweepResult sweep(const FaultScenario& s, unsigned site_mask, const char* sites_name,
                         bool persistent) {
  const std::string where = std::string(s.name) + ", sites " + sites_name + ", " + mode_name(persistent);
  INFO("scenario ", where);
  // Warm-up: first-use allocations (locale, iostreams, thread-locals) happen here.
  {
    const spinfer_status_t st = s.run();
    REQUIRE_MESSAGE(st == SPINFER_STATUS_SUCCESS, std::string(spinfer_last_error_message()));
    const char* bad = s.check(true);
    REQUIRE_MESSAGE(bad == nullptr, std::string(bad ? bad : ""));
    s.release();
  }
  SweepResult r;
  for (uint64_t i = 0;; ++i) {
    REQUIRE(i < 1000000);
    const int64_t live_before = live_allocations();
    fault::arm(site_mask, i, persistent);
    const spinfer_status_t st = s.run();
    fault::disarm();
    const uint64_t injected = fault::injected();
    const bool has_message = spinfer_last_error_message()[0] != '\0';
    const char* bad = s.check(st == SPINFER_STATUS_SUCCESS);
    if (st == SPINFER_STATUS_SUCCESS) s.release();
    const int64_t leaked = live_allocations() - live_before;

    const std::string what = "failure point " + std::to_string(i) + ", status " +
                             spinfer_status_string(st) + ", message '" + spinfer_last_error_message() + "', " +
                             std::to_string(injected) + " injected";
    INFO(what);
    REQUIRE_MESSAGE(bad == nullptr, std::string(bad ? bad : ""));
    REQUIRE(leaked == 0);
    if (injected == 0) {  // the call got past every point: the sweep is complete
      REQUIRE(st == SPINFER_STATUS_SUCCESS);
      r.points = i;
      break;
    }
    if (st == SPINFER_STATUS_SUCCESS) {
      ++r.absorbed;
      continue;
    }
    REQUIRE(int(st) > 0);
    REQUIRE(int(st) <= int(SPINFER_STATUS_INTERNAL_ERROR));
    REQUIRE(st != SPINFER_STATUS_INTERNAL_ERROR);
    REQUIRE(has_message);
    // Out of host memory must say so (not, say, a file cut short read as corrupt).
    if (site_mask == fault::site_bit(fault::Site::host_alloc)) REQUIRE(st == SPINFER_STATUS_OUT_OF_MEMORY);
    ++r.errors;
    // The handles the call used are still fine: the same call now succeeds.
    const spinfer_status_t again = s.run();
    REQUIRE_MESSAGE(again == SPINFER_STATUS_SUCCESS, std::string(spinfer_last_error_message()));
    const char* bad_again = s.check(true);
    REQUIRE_MESSAGE(bad_again == nullptr, std::string(bad_again ? bad_again : ""));
    s.release();
  }
  std::printf("fault sweep: %-28s %-12s %-10s %5llu failure points, %5llu errors, %3llu absorbed, 0 leaks\n",
              s.name, sites_name, mode_name(persistent), (unsigned long long)r.points,
              (unsigned long long)r.errors, (unsigned long long)r.absorbed);
  CHECK(r.errors + r.absorbed == r.points);
  return r;
}

constexpr unsigned kHostAlloc = fault::site_bit(fault::Site::host_alloc);
constexpr unsigned kFiles = fault::site_bit(fault::Site::file_open) | fault::site_bit(fault::Site::file_read) |
                            fault::site_bit(fault::Site::file_write) | fault::site_bit(fault::Site::file_rename);
constexpr unsigned kHostSites = kHostAlloc | kFiles;

// Every (sites, mode) combination a scenario is swept under.
inline void sweep_all(const FaultScenario& s, bool touches_files) {
  for (bool persistent : {false, true}) {
    sweep(s, kHostAlloc, "host_alloc", persistent);
    if (touches_files) {
      sweep(s, kFiles, "files", persistent);
      sweep(s, kHostSites, "alloc+files", persistent);
    }
  }
}

}  // namespace spinfer::test
