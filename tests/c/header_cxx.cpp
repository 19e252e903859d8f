// spinfer.h must compile as C++ too, and its enums keep their documented values.
#include "spinfer.h"

#include <cstdio>

static_assert(SPINFER_STATUS_SUCCESS == 0, "success is 0");
static_assert(sizeof(spinfer_dtype_t) == sizeof(int), "enums are int-sized");

int main() {
  if (spinfer_version_number() != SPINFER_VERSION_MAJOR * 10000u + SPINFER_VERSION_MINOR * 100u +
                                      SPINFER_VERSION_PATCH) {
    std::puts("version number does not match the header");
    return 1;
  }
  std::printf("spinfer %s\n", spinfer_version());
  return 0;
}
