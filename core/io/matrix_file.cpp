#include "io/matrix_file.hpp"

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.hpp"
#include "format/validate.hpp"
#include "io/json_text.hpp"
#include "io/safetensors.hpp"

namespace spinfer::io {
namespace {

using nlohmann::json;
const std::string& kMatrixKey = kMatrixMetadataPrefix;

[[noreturn]] void corrupt(const std::string& path, const std::string& detail) {
  throw Error(SPINFER_STATUS_CORRUPT_DATA, "corrupt spinfer file '" + path + "': " + detail);
}

void check_name(const std::string& name) {
  require(!name.empty(), SPINFER_STATUS_INVALID_ARGUMENT, "matrix name is empty");
  for (unsigned char ch : name)
    require(ch >= 0x20 && ch != 0x7f, SPINFER_STATUS_INVALID_ARGUMENT,
            [&] { return "matrix name '" + name + "' contains a control character"; });
}

std::vector<std::string> matrix_names(const SafetensorsFile& file) {
  std::vector<std::string> names;
  for (const auto& [key, value] : file.metadata())
    if (key.rfind(kMatrixKey, 0) == 0) {
      names.push_back(key.substr(kMatrixKey.size()));
      // save_matrices refuses such names (a C string cannot carry an embedded NUL), so a
      // file holding one was not written by spinfer: corrupt, not a name to hand out.
      bool printable = !names.back().empty();
      for (unsigned char ch : names.back()) printable = printable && ch >= 0x20 && ch != 0x7f;
      if (!printable)
        throw Error(SPINFER_STATUS_CORRUPT_DATA,
                    "corrupt spinfer file: a matrix name is empty or contains a control character");
    }
  return names;  // std::map keeps them sorted
}

// Copies tensor `name` of the expected dtype into `out` (element size sizeof(T)).
template <typename T>
void copy_tensor(const SafetensorsFile& file, const std::string& path, const std::string& name,
                 const std::string& dtype, std::vector<T>& out) {
  auto it = file.tensors().find(name);
  if (it == file.tensors().end()) corrupt(path, "tensor '" + name + "' is missing");
  const TensorEntry& t = it->second;
  if (t.dtype != dtype)
    corrupt(path, "tensor '" + name + "' has dtype " + t.dtype + ", expected " + dtype);
  if (t.shape.size() != 1) corrupt(path, "tensor '" + name + "' is not one-dimensional");
  out.resize(t.shape[0]);
  if (!out.empty()) std::memcpy(out.data(), file.data(t), out.size() * sizeof(T));
}

int64_t int_field(const json& j, const char* key, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer())
    corrupt(path, std::string("metadata field '") + key + "' is missing or not an integer");
  return it->get<int64_t>();
}

void check_tile(const json& j, const char* key, int size, const std::string& path) {
  auto it = j.find(key);
  // Compared element by element: a temporary json array would allocate when destroyed.
  if (it == j.end() || !it->is_array() || it->size() != 2 || (*it)[0] != size || (*it)[1] != size)
    corrupt(path, std::string("metadata field '") + key + "' must be [" + std::to_string(size) +
                      ", " + std::to_string(size) + "]");
}

}  // namespace

std::string matrix_metadata(const HostMatrix& m) {
  // Composed as text (io/json_text.hpp), keys sorted as a JSON object dumps them.
  ObjectText info;
  info.add("bitmap_tile", int_array({kBitmapTile, kBitmapTile}));
  info.add("cols", std::to_string(m.cols));
  info.add("dtype", quoted(dtype_name(m.dtype)));
  info.add("format_version", std::to_string(m.format_version));
  info.add("group_tile", int_array({kGroupTile, kGroupTile}));
  info.add("nnz", std::to_string(m.nnz));
  info.add("rows", std::to_string(m.rows));
  info.add("tc_tile", int_array({kTCTile, kTCTile}));
  return info.str();
}

void append_matrix_tensors(const std::string& name, const HostMatrix& m, std::vector<TensorToWrite>& out) {
  out.push_back({name + ".values", dtype_name(m.dtype), {m.values.size()}, m.values.data(), m.values.size() * 2});
  out.push_back({name + ".bitmaps", "U64", {m.bitmaps.size()}, m.bitmaps.data(), m.bitmaps.size() * 8});
  out.push_back({name + ".group_offsets", "U64", {m.group_offsets.size()}, m.group_offsets.data(),
                 m.group_offsets.size() * 8});
}

void save_matrices(const std::string& path,
                   const std::vector<std::pair<std::string, const HostMatrix*>>& matrices) {
  std::set<std::string> seen;
  std::vector<TensorToWrite> tensors;
  std::map<std::string, std::string> metadata{{"spinfer.format", "tca-bme"}};
  for (const auto& entry : matrices) {
    const std::string& name = entry.first;  // a plain reference: lambdas below capture it
    const auto& m = entry.second;
    check_name(name);
    require(m != nullptr, SPINFER_STATUS_INVALID_ARGUMENT, [&] { return "matrix '" + name + "' is NULL"; });
    require(seen.insert(name).second, SPINFER_STATUS_INVALID_ARGUMENT,
            [&] { return "matrix name '" + name + "' is used twice"; });
    metadata[kMatrixKey + name] = matrix_metadata(*m);
    append_matrix_tensors(name, *m, tensors);
  }
  write_safetensors(path, tensors, metadata);
}

HostMatrix load_matrix(const std::string& path, const std::string& requested) {
  return load_matrix(SafetensorsFile::read(path), path, requested);
}

HostMatrix load_matrix(const SafetensorsFile& file, const std::string& path,
                       const std::string& requested) {
  const std::vector<std::string> names = matrix_names(file);
  std::string name = requested;
  if (name.empty()) {
    if (names.size() != 1)
      throw Error(names.empty() ? SPINFER_STATUS_NOT_FOUND : SPINFER_STATUS_INVALID_ARGUMENT,
                  "file '" + path + "' holds " + std::to_string(names.size()) +
                      " spinfer matrices; name the one to load");
    name = names[0];
  }
  // A file may omit "spinfer.format" (the per-matrix entries identify it), but one that
  // names another format is not ours to decode.
  auto format = file.metadata().find("spinfer.format");
  if (format != file.metadata().end() && format->second != "tca-bme")
    corrupt(path, "spinfer.format is '" + format->second + "'; this library reads 'tca-bme'");
  auto meta = file.metadata().find(kMatrixKey + name);
  if (meta == file.metadata().end())
    throw Error(SPINFER_STATUS_NOT_FOUND, "file '" + path + "' has no spinfer matrix named '" + name + "'");

  json info;
  JsonTeardown teardown{info};
  if (!parse_json(meta->second, info).empty())
    corrupt(path, "metadata of matrix '" + name + "' is not valid JSON");
  if (!info.is_object()) corrupt(path, "metadata of matrix '" + name + "' is not a JSON object");

  HostMatrix m;
  const int64_t version = int_field(info, "format_version", path);
  if (version != kFormatVersion)
    throw Error(SPINFER_STATUS_UNSUPPORTED_VERSION,
                "matrix '" + name + "' in '" + path + "' has format version " +
                    std::to_string(version) + "; this library reads version " +
                    std::to_string(kFormatVersion));
  m.format_version = uint32_t(version);
  m.rows = int_field(info, "rows", path);
  m.cols = int_field(info, "cols", path);
  m.nnz = int_field(info, "nnz", path);
  auto dt = info.find("dtype");
  if (dt == info.end() || !dt->is_string()) corrupt(path, "metadata field 'dtype' is missing");
  // Compared as std::string: json == "text" builds a temporary inside a noexcept operator.
  const std::string& dtype_text = dt->get_ref<const std::string&>();
  if (dtype_text == "F16") m.dtype = DType::f16;
  else if (dtype_text == "BF16") m.dtype = DType::bf16;
  else corrupt(path, "matrix '" + name + "' has storage dtype " + dt->dump() + "; expected F16 or BF16");
  check_tile(info, "group_tile", kGroupTile, path);
  check_tile(info, "tc_tile", kTCTile, path);
  check_tile(info, "bitmap_tile", kBitmapTile, path);
  if (m.rows < 1 || m.cols < 1 || m.rows > (int64_t(1) << 31) || m.cols > (int64_t(1) << 31))
    corrupt(path, "matrix '" + name + "' has an invalid shape");

  copy_tensor(file, path, name + ".values", dtype_name(m.dtype), m.values);
  copy_tensor(file, path, name + ".bitmaps", "U64", m.bitmaps);
  copy_tensor(file, path, name + ".group_offsets", "U64", m.group_offsets);
  validate(m);
  return m;
}

std::vector<std::string> list_matrices(const std::string& path) {
  return matrix_names(SafetensorsFile::read_header(path));
}

std::vector<std::string> list_matrices(const SafetensorsFile& file) { return matrix_names(file); }

}  // namespace spinfer::io
