// libFuzzer target: bytes as a safetensors file for `spinfer inspect` (tools/inspect_scan.cpp):
// the tool's own header reader (safetensors_listing.cpp), zero counts, the library's
// loader, validator and encoder on every tensor. What must hold: no crash, no sanitizer
// report, and for every tensor reported without error: zeros <= elements, a matrix's
// encoded bytes are its bytes, a dense tensor's bytes are what its dtype and shape need.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "inspect_output.hpp"
#include "inspect_scan.hpp"
#include "safetensors_listing.hpp"

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
  std::abort();
}

// One file per process, on tmpfs where there is one.
const std::string& scratch_path() {
  static const std::string path = [] {
    const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    return std::string(dir) + "/fuzz_inspect_file_" + std::to_string(getpid()) + ".safetensors";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = scratch_path();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) fail("cannot write " + path);
  if (size && std::fwrite(data, 1, size, f) != size) fail("short write to " + path);
  std::fclose(f);

  const spinfer_tool::FileReport report = spinfer_tool::scan_file(path);
  for (const spinfer_tool::TensorReport& t : report.tensors) {
    if (!t.error.empty()) continue;
    if (t.zeros > t.elements) fail(t.name + ": more zeros than elements");
    if (t.matrix && (t.encoded_bytes != t.bytes || t.shape.size() != 2)) fail(t.name + ": matrix sizes disagree");
    const uint64_t es = spinfer_tool::safetensors_dtype_size(t.dtype);
    if (!t.matrix && es && t.bytes != uint64_t(t.elements) * es) fail(t.name + ": bytes disagree with the shape");
    if (!t.matrix && es && t.zeros < 0) fail(t.name + ": a known dtype not measured");
  }
  spinfer_tool::sum_reports({report});
  std::remove(path.c_str());
  return 0;
}
