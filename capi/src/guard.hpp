// The C boundary: every entry point runs its body inside guard(), which turns any
// exception into a status and the thread-local message, so nothing escapes into C.
#pragma once

#include <new>
#include <string>

#include "common/dtype.hpp"
#include "common/error.hpp"

namespace spinfer::capi {

// Records the thread's last failure message (prefix + message, truncated to fit a
// fixed buffer). Never allocates, so it works when memory has run out.
void set_last_error(const char* prefix, const char* message) noexcept;
void clear_last_error() noexcept;

template <typename Body>
spinfer_status_t guard(Body&& body) noexcept {
  try {
    body();
    clear_last_error();
    return SPINFER_STATUS_SUCCESS;
  } catch (const Error& e) {
    set_last_error("", e.what());
    return e.status();
  } catch (const std::bad_alloc&) {
    set_last_error("", "out of host memory");
    return SPINFER_STATUS_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_last_error("internal error: ", e.what());
    return SPINFER_STATUS_INTERNAL_ERROR;
  } catch (...) {
    set_last_error("internal error: ", "unknown exception");
    return SPINFER_STATUS_INTERNAL_ERROR;
  }
}

// Argument checks shared by the entry points.
inline void require_not_null(const void* p, const char* what) {
  require(p != nullptr, SPINFER_STATUS_INVALID_ARGUMENT, [&] { return std::string(what) + " is NULL"; });
}
inline DType require_dtype(spinfer_dtype_t t, const char* what) {
  require(t == SPINFER_DTYPE_F32 || t == SPINFER_DTYPE_F16 || t == SPINFER_DTYPE_BF16,
          SPINFER_STATUS_UNSUPPORTED_DTYPE,
          [&] { return std::string(what) + " has unknown dtype value " + std::to_string(int(t)); });
  return DType(t);
}
inline DType require_storage_dtype(spinfer_dtype_t t, const char* what) {
  DType d = require_dtype(t, what);
  require(is_storage_dtype(d), SPINFER_STATUS_UNSUPPORTED_DTYPE,
          [&] { return std::string(what) + " must be F16 or BF16"; });
  return d;
}

}  // namespace spinfer::capi
