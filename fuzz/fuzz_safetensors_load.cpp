// libFuzzer target: arbitrary bytes as a safetensors file, through the public loader
// (spinfer_file_matrix_count / _name / spinfer_load) and the core loader. Whatever
// the bytes, the calls return a status with a message and never read out of bounds;
// a matrix they accept satisfies every invariant (fuzz_common.hpp).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "fuzz_common.hpp"
#include "io/matrix_file.hpp"

using namespace spinfer::fuzz;

namespace {

// The input as a file without touching the disk: an in-memory file, opened by path.
struct MemFile {
  int fd = -1;
  std::string path;
  MemFile(const uint8_t* data, size_t size) {
    fd = memfd_create("spinfer_fuzz", 0);
    if (fd < 0) fail("memfd_create");
    for (size_t done = 0; done < size;) {
      const ssize_t n = write(fd, data + done, size - done);
      if (n <= 0) fail("write to memfd");
      done += size_t(n);
    }
    path = "/proc/self/fd/" + std::to_string(fd);
  }
  ~MemFile() { close(fd); }
};

void load_one(const std::string& path, const char* name) {
  spinfer_matrix_t* m = reinterpret_cast<spinfer_matrix_t*>(1);
  const spinfer_status_t s = spinfer_load(&m, path.c_str(), name);
  count("spinfer_load", s);
  if (s != SPINFER_STATUS_SUCCESS) {
    expect_clean_failure(s, "load");
    expect(m == nullptr, "failed load left a handle");
    return;
  }
  // The core loader must agree, and its matrix must pass every check.
  const spinfer::HostMatrix h = spinfer::io::load_matrix(path, name ? name : "");
  check_accepted(h, m);
  spinfer_matrix_destroy(m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  MemFile file(data, size);
  size_t count = 0;
  const spinfer_status_t s = spinfer_file_matrix_count(file.path.c_str(), &count);
  spinfer::fuzz::count("spinfer_file_matrix_count", s);
  if (s != SPINFER_STATUS_SUCCESS) {
    expect_clean_failure(s, "file_matrix_count");
    load_one(file.path, nullptr);  // must fail the same way, cleanly
    return 0;
  }
  load_one(file.path, nullptr);
  for (size_t i = 0; i < count && i < 8; ++i) {
    char name[256];
    size_t required = 0;
    const spinfer_status_t sn =
        spinfer_file_matrix_name(file.path.c_str(), i, name, sizeof name, &required);
    spinfer::fuzz::count("spinfer_file_matrix_name", sn);
    if (sn != SPINFER_STATUS_SUCCESS) {
      expect_clean_failure(sn, "file_matrix_name");
      expect(required > sizeof name, "name failed although it fits");
      continue;
    }
    expect(required == std::string(name).size() + 1, "required size wrong");
    load_one(file.path, name);
  }
  // An index past the end is an error, not a crash.
  char small[4];
  expect_clean_failure(spinfer_file_matrix_name(file.path.c_str(), count, small, sizeof small, nullptr),
                       "name index past the end");
  return 0;
}
