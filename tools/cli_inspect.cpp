// spinfer inspect: the matrices of a spinfer safetensors file with their statistics.
#include <cstdio>
#include <memory>
#include <string>

#include "cli_commands.hpp"
#include "cli_common.hpp"

namespace spinfer_tool {

namespace {

int run_inspect(const std::string& file) {
  const char* path = file.c_str();
  size_t count = 0;
  CALL(spinfer_file_matrix_count(path, &count));
  std::printf("%s: %zu matri%s\n", path, count, count == 1 ? "x" : "ces");
  for (size_t i = 0; i < count; ++i) {
    size_t need = 0;
    spinfer_file_matrix_name(path, i, nullptr, 0, &need);
    std::string name(need, '\0');
    CALL(spinfer_file_matrix_name(path, i, name.data(), need, nullptr));
    name.resize(need - 1);
    spinfer_matrix_t* m = nullptr;
    CALL(spinfer_load(&m, path, name.c_str()));
    spinfer_matrix_info_t info{};
    info.struct_size = sizeof info;
    CALL(spinfer_matrix_get_info(m, &info));
    std::printf("  %-32s %lld x %lld %s  nnz %lld  sparsity %.2f %%  %llu bytes  %.2f x smaller\n",
                name.c_str(), (long long)info.rows, (long long)info.cols,
                info.dtype == SPINFER_DTYPE_BF16 ? "bf16" : "fp16", (long long)info.nnz,
                info.sparsity * 100, (unsigned long long)info.bytes, info.compression_ratio);
    spinfer_matrix_destroy(m);
  }
  return 0;
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("inspect", "List the matrices of a spinfer safetensors file");
  cmd->add_option("FILE", *path, "a spinfer safetensors file")->required();
  cmd->callback([path] { finish(run_inspect(*path)); });
}

}  // namespace spinfer_tool
