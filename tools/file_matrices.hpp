// The names of the spinfer matrices in a safetensors file, through the C API.
#pragma once

#include <string>
#include <vector>

#include "spinfer.h"

namespace spinfer_tool {

// Fills `names` (sorted, as the file lists them); the first failing call's status otherwise
// (its message in spinfer_last_error_message()).
spinfer_status_t file_matrix_names(const char* path, std::vector<std::string>* names);

}  // namespace spinfer_tool
