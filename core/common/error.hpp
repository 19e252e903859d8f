// Error type of the C++ core. Core code throws spinfer::Error; the C API catches it
// at the boundary and turns it into a status plus the thread-local message.
#pragma once

#include <stdexcept>
#include <string>
#include <type_traits>

#include "spinfer.h"

namespace spinfer {

class Error : public std::runtime_error {
 public:
  Error(spinfer_status_t status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  spinfer_status_t status() const noexcept { return status_; }

 private:
  spinfer_status_t status_;
};

// Throws Error(status, message) when `condition` is false. Two forms cost nothing
// when the condition holds, so checks on hot paths never allocate:
//   require(x != nullptr, SPINFER_STATUS_INVALID_ARGUMENT, "x is NULL");
//   require(n >= 0, SPINFER_STATUS_INVALID_ARGUMENT, [&] { return "n is " + std::to_string(n); });
// the second builds its message (a callable returning std::string) only on failure.
inline void require(bool condition, spinfer_status_t status, const char* message) {
  if (!condition) throw Error(status, message);
}
// (enable_if rather than a requires-clause: nvcc compiles this header as C++17.)
template <typename Message, typename = std::enable_if_t<std::is_invocable_r_v<std::string, Message&>>>
inline void require(bool condition, spinfer_status_t status, Message&& message) {
  if (!condition) throw Error(status, message());
}

}  // namespace spinfer
