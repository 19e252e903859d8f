// Error type of the C++ core. Core code throws spinfer::Error; the C API catches it
// at the boundary and turns it into a status plus the thread-local message.
#pragma once

#include <stdexcept>
#include <string>

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

// Throws Error(status, message) when `condition` is false.
inline void require(bool condition, spinfer_status_t status, const std::string& message) {
  if (!condition) throw Error(status, message);
}

}  // namespace spinfer
