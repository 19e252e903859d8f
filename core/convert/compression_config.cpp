#include "convert/compression_config.hpp"

#include "common/error.hpp"

namespace spinfer::convert {
namespace {

using nlohmann::json;

[[noreturn]] void refuse(const std::string& what, const std::string& detail) {
  throw Error(SPINFER_STATUS_NOT_SUPPORTED, what + ": " + detail + "; spinfer converts dense (F32/F16/BF16) "
              "or compressed-tensors sparse-bitmask weights only");
}

[[noreturn]] void corrupt(const std::string& what, const std::string& detail) {
  throw Error(SPINFER_STATUS_CORRUPT_DATA, what + ": " + detail);
}

// The string member `key` of `obj`, "" when absent or null; CORRUPT_DATA for another type.
std::string string_field(const json& obj, const char* key, const std::string& what, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_string()) corrupt(what, where + "." + key + " is not a string");
  return it->get<std::string>();
}

std::vector<std::string> string_list(const json& obj, const char* key, const std::string& what,
                                     const std::string& where) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) corrupt(what, where + "." + key + " is not a list");
  for (const json& v : *it) {
    if (!v.is_string()) corrupt(what, where + "." + key + " holds a value that is not a string");
    out.push_back(v.get<std::string>());
  }
  return out;
}

// Weight quantization of one config group ("weights": {"num_bits": 4, "type": "int"}),
// or "" when the group leaves weights alone.
std::string quantized_weights(const json& group) {
  if (!group.is_object()) return {};
  auto w = group.find("weights");
  if (w == group.end() || w->is_null()) return {};
  std::string text = "weights";
  if (w->is_object()) {
    auto bits = w->find("num_bits");
    auto type = w->find("type");
    if (bits != w->end() && bits->is_number_integer()) text += " " + std::to_string(bits->get<int64_t>()) + "-bit";
    if (type != w->end() && type->is_string()) text += " " + type->get<std::string>();
  }
  return text;
}

}  // namespace

Compression read_compression(const json& config, const std::string& what) {
  Compression c;
  const char* key = config.contains("quantization_config") ? "quantization_config" : "compression_config";
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return c;
  c.present = true;
  const std::string where = key;
  if (!it->is_object()) corrupt(what, where + " is not an object");
  const json& q = *it;

  const std::string method = string_field(q, "quant_method", what, where);
  if (!method.empty() && method != "compressed-tensors" && method != "sparseml")
    refuse(what, "the checkpoint is quantized (quant_method '" + method + "')");
  auto groups = q.find("config_groups");
  if (groups != q.end() && !groups->is_null()) {
    if (!groups->is_object()) corrupt(what, where + ".config_groups is not an object");
    for (const auto& [name, group] : groups->items()) {
      const std::string w = quantized_weights(group);
      if (!w.empty()) refuse(what, "the checkpoint is quantized (config group '" + name + "': " + w + ")");
    }
  }
  const std::string format = string_field(q, "format", what, where);
  if (!format.empty() && format != "dense" && format != "sparse-bitmask")
    refuse(what, "the checkpoint is quantized or compressed as '" + format + "'");

  auto sparsity = q.find("sparsity_config");
  if (sparsity == q.end() || sparsity->is_null()) {
    c.sparse_bitmask = format == "sparse-bitmask";
    return c;
  }
  if (!sparsity->is_object()) corrupt(what, where + ".sparsity_config is not an object");
  const std::string sw = where + ".sparsity_config";
  const std::string sformat = string_field(*sparsity, "format", what, sw);
  if (sformat == "sparse-bitmask") c.sparse_bitmask = true;
  else if (!sformat.empty() && sformat != "dense")
    refuse(what, "compression format '" + sformat + "' is not supported");
  c.targets = string_list(*sparsity, "targets", what, sw);
  c.ignore = string_list(*sparsity, "ignore", what, sw);
  return c;
}

}  // namespace spinfer::convert
