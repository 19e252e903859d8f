// Files: save / load encoded matrices as safetensors.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "guard.hpp"
#include "handles.hpp"
#include "io/matrix_file.hpp"

using spinfer::require;
using spinfer::capi::guard;
using spinfer::capi::require_not_null;

extern "C" {

spinfer_status_t spinfer_save(const char* path, const spinfer_matrix_t* const* matrices,
                              const char* const* names, size_t count) {
  return guard([&] {
    require_not_null(path, "path");
    require(count > 0, SPINFER_STATUS_INVALID_ARGUMENT, "count is 0: nothing to save");
    require_not_null(matrices, "matrices");
    require_not_null(names, "names");
    std::vector<std::pair<std::string, const spinfer::HostMatrix*>> list;
    for (size_t i = 0; i < count; ++i) {
      const std::string which = "matrices[" + std::to_string(i) + "]";
      require(names[i] != nullptr, SPINFER_STATUS_INVALID_ARGUMENT,
              [&] { return "names[" + std::to_string(i) + "] is NULL"; });
      list.emplace_back(names[i], &spinfer::capi::require_host_matrix(matrices[i], which.c_str()));
    }
    spinfer::io::save_matrices(path, list);
  });
}

spinfer_status_t spinfer_load(spinfer_matrix_t** out, const char* path, const char* name) {
  if (out) *out = nullptr;
  return guard([&] {
    require_not_null(out, "out");
    require_not_null(path, "path");
    auto m = std::make_unique<spinfer_matrix>();
    m->storage = spinfer::io::load_matrix(path, name ? name : "");
    *out = m.release();
  });
}

spinfer_status_t spinfer_file_matrix_count(const char* path, size_t* count) {
  return guard([&] {
    require_not_null(path, "path");
    require_not_null(count, "count");
    *count = spinfer::io::list_matrices(path).size();
  });
}

spinfer_status_t spinfer_file_matrix_name(const char* path, size_t index, char* buffer,
                                          size_t buffer_size, size_t* required) {
  return guard([&] {
    require_not_null(path, "path");
    const auto names = spinfer::io::list_matrices(path);
    require(index < names.size(), SPINFER_STATUS_INVALID_ARGUMENT, [&] {
      return "index " + std::to_string(index) + " is out of range: the file holds " +
             std::to_string(names.size()) + " matrices";
    });
    const std::string& name = names[index];
    if (required) *required = name.size() + 1;
    require(buffer != nullptr || buffer_size == 0, SPINFER_STATUS_INVALID_ARGUMENT,
            "buffer is NULL but buffer_size is not 0");
    require(buffer_size >= name.size() + 1, SPINFER_STATUS_INVALID_ARGUMENT, [&] {
      return "buffer of " + std::to_string(buffer_size) + " bytes is too small; " +
             std::to_string(name.size() + 1) + " needed";
    });
    std::memcpy(buffer, name.c_str(), name.size() + 1);
  });
}

}  // extern "C"
