// cuBLAS loaded at run time: see cublas_runtime.hpp.
#include "cuda/cublas_runtime.hpp"

#include <dlfcn.h>

#include <string>

namespace spinfer::cuda {
namespace {

struct Loaded {
  CublasApi api;
  bool ok = false;
  std::string why;
};

template <typename F>
bool bind(void* lib, const char* name, F& f, std::string& why) {
  f = reinterpret_cast<F>(dlsym(lib, name));
  if (!f) why = std::string("libcublas has no symbol ") + name;
  return f != nullptr;
}

Loaded load() {
  Loaded l;
  // The major version the library was built against: its ABI.
  const std::string soname = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  void* lib = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* err = dlerror();
    l.why = "cannot load " + soname + (err ? std::string(" (") + err + ")" : std::string());
    return l;
  }
  CublasApi& a = l.api;
  l.ok = bind(lib, "cublasCreate_v2", a.create, l.why) && bind(lib, "cublasDestroy_v2", a.destroy, l.why) &&
         bind(lib, "cublasSetStream_v2", a.set_stream, l.why) &&
         bind(lib, "cublasSetWorkspace_v2", a.set_workspace, l.why) &&
         bind(lib, "cublasGemmEx_64", a.gemm_ex, l.why) &&
         bind(lib, "cublasGetStatusName", a.status_name, l.why) &&
         bind(lib, "cublasGetStatusString", a.status_string, l.why);
  // Never dlclose: handles made from it may live until the process ends.
  return l;
}

}  // namespace

const CublasApi* cublas_api(const char** why) {
  static const Loaded loaded = load();
  if (why) *why = loaded.why.c_str();
  return loaded.ok ? &loaded.api : nullptr;
}

}  // namespace spinfer::cuda
