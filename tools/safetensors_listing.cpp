#include "safetensors_listing.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

namespace spinfer_tool {

namespace {

const uint64_t kMaxHeaderBytes = uint64_t(100) << 20;  // as the reference implementation

bool fail(std::string* error, const std::string& what) {
  *error = what;
  return false;
}

// Reads one header entry into `t`; false with `why` for a malformed one.
bool parse_entry(const std::string& name, const nlohmann::json& v, uint64_t data_bytes, TensorEntry* t,
                 std::string* why) {
  if (!v.is_object()) return fail(why, "is not an object");
  const auto dtype = v.find("dtype");
  const auto shape = v.find("shape");
  const auto offsets = v.find("data_offsets");
  if (dtype == v.end() || !dtype->is_string()) return fail(why, "has no dtype string");
  if (shape == v.end() || !shape->is_array()) return fail(why, "has no shape array");
  if (offsets == v.end() || !offsets->is_array() || offsets->size() != 2) return fail(why, "has no data_offsets pair");
  t->name = name;
  t->dtype = dtype->get<std::string>();
  t->elements = 1;
  for (const auto& d : *shape) {
    if (!d.is_number_unsigned()) return fail(why, "has a shape entry that is not a non-negative integer");
    const uint64_t n = d.get<uint64_t>();
    if (n > (uint64_t(1) << 62) || (n != 0 && uint64_t(t->elements) > (uint64_t(1) << 62) / n))
      return fail(why, "has a shape too large");
    t->shape.push_back(int64_t(n));
    t->elements *= int64_t(n);
  }
  if (!(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned())
    return fail(why, "has data_offsets that are not non-negative integers");
  const uint64_t begin = (*offsets)[0].get<uint64_t>(), end = (*offsets)[1].get<uint64_t>();
  if (begin > end || end > data_bytes) return fail(why, "has data_offsets outside the file's data");
  t->offset = begin;
  t->bytes = end - begin;
  const uint64_t size = safetensors_dtype_size(t->dtype);
  if (size != 0 && (t->bytes % size != 0 || t->bytes / size != uint64_t(t->elements)))
    return fail(why, "holds " + std::to_string(t->bytes) + " bytes, not what its shape and dtype need");
  return true;
}

}  // namespace

uint64_t safetensors_dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
  return 0;
}

bool safetensors_dtype_is_float(const std::string& d) {
  return d == "F64" || d == "F32" || d == "F16" || d == "BF16" || d == "F8_E4M3" || d == "F8_E5M2";
}

bool list_safetensors(const std::string& path, std::vector<TensorEntry>* tensors, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(error, "cannot open the file");
  in.seekg(0, std::ios::end);
  const std::streamoff file_size = in.tellg();
  in.seekg(0);
  unsigned char prefix[8] = {};
  if (file_size < 8 || !in.read(reinterpret_cast<char*>(prefix), 8))
    return fail(error, "shorter than the 8-byte header length");
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | prefix[i];
  if (header_bytes > kMaxHeaderBytes || header_bytes > uint64_t(file_size) - 8)
    return fail(error, "header length " + std::to_string(header_bytes) + " exceeds the file");
  std::string text(header_bytes, '\0');
  if (!in.read(text.data(), std::streamsize(header_bytes))) return fail(error, "cannot read the header");
  const nlohmann::json header = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) return fail(error, "the header is not a JSON object");
  const uint64_t data_bytes = uint64_t(file_size) - 8 - header_bytes;
  tensors->clear();
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") continue;
    TensorEntry t;
    std::string why;
    if (!parse_entry(name, value, data_bytes, &t, &why)) return fail(error, "tensor '" + name + "' " + why);
    t.offset += 8 + header_bytes;
    tensors->push_back(std::move(t));
  }
  std::sort(tensors->begin(), tensors->end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return true;
}

bool read_tensor_bytes(const std::string& path, const TensorEntry& t, std::vector<uint8_t>* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  out->resize(t.bytes);
  in.seekg(std::streamoff(t.offset));
  if (!in || !in.read(reinterpret_cast<char*>(out->data()), std::streamsize(t.bytes)))
    return fail(error, "cannot read the data of '" + t.name + "'");
  return true;
}

int64_t count_zeros(const std::string& dtype, const std::vector<uint8_t>& bytes) {
  const uint64_t size = safetensors_dtype_size(dtype);
  if (size == 0) return -1;
  const bool is_float = safetensors_dtype_is_float(dtype);
  int64_t zeros = 0;
  for (size_t i = 0; i + size <= bytes.size(); i += size) {
    bool zero = true;  // little-endian: the sign bit is the top bit of the last byte
    for (uint64_t b = 0; b < size && zero; ++b) {
      const uint8_t mask = (is_float && b == size - 1) ? 0x7F : 0xFF;
      zero = (bytes[i + b] & mask) == 0;
    }
    zeros += zero;
  }
  return zeros;
}

}  // namespace spinfer_tool
