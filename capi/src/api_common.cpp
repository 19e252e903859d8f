// Versions, statuses and the thread-local last-error message.
#include <initializer_list>
#include <string>

#include "guard.hpp"
#include "spinfer.h"

namespace spinfer::capi {
namespace {
// A fixed buffer, not a std::string: recording a failure must not allocate (the
// failure may be that memory ran out).
thread_local char last_error[4096];
}

void set_last_error(const char* prefix, const char* message) noexcept {
  size_t n = 0;
  for (const char* part : {prefix, message})
    for (const char* c = part; c && *c && n + 1 < sizeof last_error; ++c) last_error[n++] = *c;
  last_error[n] = '\0';
}

void clear_last_error() noexcept { last_error[0] = '\0'; }

}  // namespace spinfer::capi

#define SPINFER_STR2(x) #x
#define SPINFER_STR(x) SPINFER_STR2(x)

extern "C" {

const char* spinfer_version(void) {
  return SPINFER_STR(SPINFER_VERSION_MAJOR) "." SPINFER_STR(SPINFER_VERSION_MINOR) "." SPINFER_STR(
      SPINFER_VERSION_PATCH);
}

uint32_t spinfer_version_number(void) {
  return SPINFER_VERSION_MAJOR * 10000u + SPINFER_VERSION_MINOR * 100u + SPINFER_VERSION_PATCH;
}

const char* spinfer_status_string(spinfer_status_t status) {
  switch (status) {
    case SPINFER_STATUS_SUCCESS: return "SPINFER_STATUS_SUCCESS";
    case SPINFER_STATUS_INVALID_ARGUMENT: return "SPINFER_STATUS_INVALID_ARGUMENT";
    case SPINFER_STATUS_SHAPE_MISMATCH: return "SPINFER_STATUS_SHAPE_MISMATCH";
    case SPINFER_STATUS_UNSUPPORTED_DTYPE: return "SPINFER_STATUS_UNSUPPORTED_DTYPE";
    case SPINFER_STATUS_MISALIGNED: return "SPINFER_STATUS_MISALIGNED";
    case SPINFER_STATUS_OUT_OF_MEMORY: return "SPINFER_STATUS_OUT_OF_MEMORY";
    case SPINFER_STATUS_IO_ERROR: return "SPINFER_STATUS_IO_ERROR";
    case SPINFER_STATUS_CORRUPT_DATA: return "SPINFER_STATUS_CORRUPT_DATA";
    case SPINFER_STATUS_UNSUPPORTED_VERSION: return "SPINFER_STATUS_UNSUPPORTED_VERSION";
    case SPINFER_STATUS_NOT_FOUND: return "SPINFER_STATUS_NOT_FOUND";
    case SPINFER_STATUS_NOT_SUPPORTED: return "SPINFER_STATUS_NOT_SUPPORTED";
    case SPINFER_STATUS_NO_DEVICE: return "SPINFER_STATUS_NO_DEVICE";
    case SPINFER_STATUS_WRONG_LOCATION: return "SPINFER_STATUS_WRONG_LOCATION";
    case SPINFER_STATUS_CUDA_ERROR: return "SPINFER_STATUS_CUDA_ERROR";
    case SPINFER_STATUS_INTERNAL_ERROR: return "SPINFER_STATUS_INTERNAL_ERROR";
  }
  return "SPINFER_STATUS_UNKNOWN";
}

const char* spinfer_last_error_message(void) { return spinfer::capi::last_error; }

size_t spinfer_dtype_size(spinfer_dtype_t dtype) {
  switch (dtype) {
    case SPINFER_DTYPE_F32: return 4;
    case SPINFER_DTYPE_F16:
    case SPINFER_DTYPE_BF16: return 2;
  }
  return 0;
}

}  // extern "C"
