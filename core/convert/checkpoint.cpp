#include "convert/checkpoint.hpp"

#include <algorithm>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/error.hpp"
#include "io/file_kind.hpp"
#include "io/json_text.hpp"

namespace spinfer::convert {
namespace {

std::string read_text(const std::string& path) {
  io::require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(SPINFER_STATUS_IO_ERROR, "cannot open '" + path + "' for reading");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(SPINFER_STATUS_IO_ERROR, "cannot read '" + path + "'");
  return text.str();
}

bool exists(const std::string& path) {
  std::ifstream in(path);
  return bool(in);
}

// The shard files named by an index's weight_map, sorted, each once.
std::vector<std::string> index_files(const std::string& dir, const std::string& index_path,
                                     std::map<std::string, std::string>& weight_map) {
  const std::string text = read_text(index_path);
  nlohmann::json doc;
  io::JsonTeardown teardown{doc};
  const std::string syntax = io::parse_json(text, doc);
  const std::string what = "index '" + index_path + "'";
  require(syntax.empty(), SPINFER_STATUS_CORRUPT_DATA, [&] { return what + " is not valid JSON (" + syntax + ")"; });
  auto map = doc.is_object() ? doc.find("weight_map") : doc.end();
  require(doc.is_object() && map != doc.end() && map->is_object(), SPINFER_STATUS_CORRUPT_DATA,
          [&] { return what + " has no weight_map object"; });
  std::set<std::string> files;
  // (No structured bindings below: lambdas capture the names, which clang 14 refuses.)
  for (const auto& item : map->items()) {
    const std::string& name = item.key();
    const auto& file = item.value();
    require(file.is_string(), SPINFER_STATUS_CORRUPT_DATA,
            [&] { return what + ": the file of tensor '" + name + "' is not a string"; });
    const std::string f = file.get<std::string>();
    require(!f.empty() && f.find('/') == std::string::npos && f != "..", SPINFER_STATUS_CORRUPT_DATA,
            [&] { return what + ": tensor '" + name + "' names the file '" + f + "', which is not in the directory"; });
    weight_map[name] = f;
    files.insert(f);
  }
  std::vector<std::string> paths;
  for (const std::string& f : files) paths.push_back(dir + "/" + f);
  return paths;
}

std::vector<std::string> listed_files(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> listing(::opendir(dir.c_str()), ::closedir);
  require(listing != nullptr, SPINFER_STATUS_IO_ERROR, [&] { return "cannot list '" + dir + "'"; });
  std::vector<std::string> found;
  const std::string ext = ".safetensors";
  while (const dirent* e = ::readdir(listing.get())) {
    const std::string name = e->d_name;
    if (name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0)
      found.push_back(dir + "/" + name);
  }
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

std::string read_config_text(const std::string& dir) { return read_text(dir + "/config.json"); }

uint64_t TensorRef::elements() const {
  uint64_t n = 1;
  for (uint64_t d : entry->shape) n *= d;
  return n;
}

bool float_dtype(const std::string& name, DType* out) {
  if (name == "F32") *out = DType::f32;
  else if (name == "F16") *out = DType::f16;
  else if (name == "BF16") *out = DType::bf16;
  else return false;
  return true;
}

float load_float(const uint8_t* data, DType dt, int64_t i) {
  if (dt == DType::f32) {
    float f;
    std::memcpy(&f, data + i * 4, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, data + i * 2, 2);
  return storage_to_float(h, dt);
}

Checkpoint::Checkpoint(const std::string& dir) {
  config_text_ = read_config_text(dir);
  const std::string index = dir + "/model.safetensors.index.json";
  std::map<std::string, std::string> weight_map;
  const bool indexed = exists(index);
  const std::vector<std::string> paths = indexed ? index_files(dir, index, weight_map) : listed_files(dir);
  require(!paths.empty(), SPINFER_STATUS_NOT_FOUND, [&] { return "no .safetensors file in '" + dir + "'"; });
  std::map<std::string, std::string> file_of;
  for (const std::string& path : paths) {
    files_.push_back(std::make_unique<io::SafetensorsFile>(io::SafetensorsFile::map(path)));
    const io::SafetensorsFile* f = files_.back().get();
    const std::string base = path.substr(dir.size() + 1);
    for (const auto& tensor : f->tensors()) {
      const std::string& name = tensor.first;
      const auto& entry = tensor.second;
      const auto added = file_of.emplace(name, path);
      require(added.second, SPINFER_STATUS_CORRUPT_DATA, [&] {
        return "tensor '" + name + "' is in both '" + added.first->second + "' and '" + path + "'";
      });
      if (indexed) {
        auto it = weight_map.find(name);
        require(it != weight_map.end() && it->second == base, SPINFER_STATUS_CORRUPT_DATA, [&] {
          return "tensor '" + name + "' of '" + path + "' is " +
                 (it == weight_map.end() ? std::string("missing from") : "under another file in") + " '" + index + "'";
        });
      }
      tensors_[name] = TensorRef{f, &entry};
    }
  }
  for (const auto& listed : weight_map)
    require(tensors_.count(listed.first) > 0, SPINFER_STATUS_CORRUPT_DATA, [&] {
      return "'" + index + "' lists tensor '" + listed.first + "' in '" + listed.second + "', which does not hold it";
    });
}

}  // namespace spinfer::convert
