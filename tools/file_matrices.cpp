#include "file_matrices.hpp"

namespace spinfer_tool {

spinfer_status_t file_matrix_names(const char* path, std::vector<std::string>* names) {
  names->clear();
  size_t count = 0;
  spinfer_status_t s = spinfer_file_matrix_count(path, &count);
  if (s != SPINFER_STATUS_SUCCESS) return s;
  for (size_t i = 0; i < count; ++i) {
    size_t need = 0;  // a size query: INVALID_ARGUMENT with `need` set is its answer
    s = spinfer_file_matrix_name(path, i, nullptr, 0, &need);
    if (need == 0) return s;
    std::string name(need, '\0');
    s = spinfer_file_matrix_name(path, i, name.data(), need, nullptr);
    if (s != SPINFER_STATUS_SUCCESS) return s;
    name.resize(need - 1);
    names->push_back(name);
  }
  return SPINFER_STATUS_SUCCESS;
}

}  // namespace spinfer_tool
