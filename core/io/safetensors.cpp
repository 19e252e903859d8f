#include "io/safetensors.hpp"

#include <algorithm>
#include <cstdint>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/error.hpp"
#include "common/fault_injection.hpp"
#include "io/file_kind.hpp"
#include "io/json_text.hpp"

namespace spinfer::io {
namespace {

using nlohmann::json;
// Largest header read (docs/format.md). Real headers are kilobytes (a few MB for the
// largest sharded checkpoints); parsing costs ~15x the header in memory, so the
// reference reader's 100 MB would let a crafted file take 1.5 GB and seconds.
constexpr uint64_t kMaxHeaderBytes = uint64_t(16) << 20;

[[noreturn]] void corrupt(const std::string& what, const std::string& detail) {
  throw Error(SPINFER_STATUS_CORRUPT_DATA, "corrupt safetensors file " + what + ": " + detail);
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

uint64_t safetensors_dtype_size(const std::string& dtype) {
  static const std::map<std::string, uint64_t> sizes = {
      {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2},
      {"U16", 2},  {"F16", 2}, {"BF16", 2}, {"I32", 4},   {"U32", 4},     {"F32", 4},
      {"I64", 8},  {"U64", 8}, {"F64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

namespace {

// An open file and its size, or IO_ERROR naming the path.
std::ifstream open_for_reading(const std::string& path, uint64_t& size) {
  std::ifstream in;
  require_regular_file(path);  // before open: a FIFO would block it
  if (!fault::should_fail(fault::Site::file_open)) in.open(path, std::ios::binary | std::ios::ate);
  if (!in.is_open()) throw Error(SPINFER_STATUS_IO_ERROR, "cannot open '" + path + "' for reading");
  const std::streamoff end = in.tellg();
  if (end < 0) throw Error(SPINFER_STATUS_IO_ERROR, "cannot read the size of '" + path + "'");
  size = uint64_t(end);
  in.seekg(0);
  return in;
}

// Appends the next `count` bytes of `in` to `bytes`.
void read_more(std::ifstream& in, std::vector<uint8_t>& bytes, uint64_t count, const std::string& path) {
  const size_t at = bytes.size();
  bytes.resize(at + size_t(count));
  if (count > 0 && (fault::should_fail(fault::Site::file_read) ||
                    !in.read(reinterpret_cast<char*>(bytes.data() + at), std::streamsize(count))))
    throw Error(SPINFER_STATUS_IO_ERROR, "cannot read '" + path + "'");
}

}  // namespace

SafetensorsFile SafetensorsFile::read(const std::string& path) {
  uint64_t size = 0;
  std::ifstream in = open_for_reading(path, size);
  std::vector<uint8_t> bytes;
  read_more(in, bytes, size, path);
  return parse(std::move(bytes), "'" + path + "'");
}

SafetensorsFile SafetensorsFile::read_header(const std::string& path) {
  uint64_t size = 0;
  std::ifstream in = open_for_reading(path, size);
  std::vector<uint8_t> bytes;
  read_more(in, bytes, std::min<uint64_t>(size, 8), path);
  if (bytes.size() == 8) {
    // Read no more than the header, and no more than a valid header can be: parse()
    // reports a header length that is too large or runs past the end.
    const uint64_t header_len = std::min(read_u64_le(bytes.data()), kMaxHeaderBytes);
    read_more(in, bytes, std::min(header_len, size - 8), path);
  }
  return parse(std::move(bytes), "'" + path + "'", size);
}

struct SafetensorsFile::Mapping {
  const uint8_t* data = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (data) ::munmap(const_cast<uint8_t*>(data), size);
  }
};

const uint8_t* SafetensorsFile::base() const { return mapping_ ? mapping_->data : bytes_.data(); }

SafetensorsFile SafetensorsFile::map(const std::string& path) {
  SafetensorsFile f = read_header(path);  // every header check, ranges against the size
  struct stat st {};
  const int fd = fault::should_fail(fault::Site::file_open) ? -1 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(SPINFER_STATUS_IO_ERROR, "cannot open '" + path + "' for reading");
  auto mapping = std::make_shared<Mapping>();
  const bool sized = ::fstat(fd, &st) == 0;
  if (sized && st.st_size > 0) {
    void* p = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      mapping->data = static_cast<const uint8_t*>(p);
      mapping->size = size_t(st.st_size);
    }
  }
  ::close(fd);
  if (!sized) throw Error(SPINFER_STATUS_IO_ERROR, "cannot read the size of '" + path + "'");
  if (mapping->data == nullptr) throw Error(SPINFER_STATUS_IO_ERROR, "cannot map '" + path + "' into memory");
  // The header was checked against the size read_header saw: a file that changed since
  // then is refused rather than read past its end.
  if (uint64_t(st.st_size) != f.file_size_)
    throw Error(SPINFER_STATUS_IO_ERROR, "'" + path + "' changed while it was opened");
  f.bytes_.clear();
  f.bytes_.shrink_to_fit();
  f.mapping_ = std::move(mapping);
  return f;
}

void SafetensorsFile::release(const TensorEntry& t) const {
  if (!mapping_ || t.end == t.begin) return;
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = uintptr_t(data(t)), end = begin + (t.end - t.begin);
  const uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;  // whole pages only
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

SafetensorsFile SafetensorsFile::parse(std::vector<uint8_t> bytes, const std::string& what,
                                       uint64_t file_size) {
  SafetensorsFile f;
  if (file_size == UINT64_MAX) file_size = bytes.size();
  if (file_size < 8) corrupt(what, "shorter than the 8-byte header length");
  const uint64_t header_len = read_u64_le(bytes.data());
  if (header_len > kMaxHeaderBytes)
    corrupt(what, "header length " + std::to_string(header_len) + " exceeds the 16 MiB limit");
  if (header_len > file_size - 8)
    corrupt(what, "header length " + std::to_string(header_len) + " runs past the end of the file (truncated?)");
  f.data_start_ = 8 + header_len;
  f.file_size_ = file_size;
  const uint64_t data_size = file_size - f.data_start_;

  json header;
  JsonTeardown teardown{header};
  const std::string syntax =
      parse_json(std::string_view(reinterpret_cast<const char*>(bytes.data()) + 8, size_t(header_len)), header);
  if (!syntax.empty()) corrupt(what, "header is not valid JSON (" + syntax + ")");
  if (!header.is_object()) corrupt(what, "header is not a JSON object");

  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) corrupt(what, "__metadata__ is not an object");
      for (auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) corrupt(what, "metadata value of '" + mk + "' is not a string");
        f.metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    if (!value.is_object()) corrupt(what, "entry '" + key + "' is not an object");
    TensorEntry t;
    auto dt = value.find("dtype");
    auto sh = value.find("shape");
    auto off = value.find("data_offsets");
    if (dt == value.end() || !dt->is_string()) corrupt(what, "tensor '" + key + "' has no dtype string");
    t.dtype = dt->get<std::string>();
    const uint64_t elem = safetensors_dtype_size(t.dtype);
    if (elem == 0) corrupt(what, "tensor '" + key + "' has unknown dtype '" + t.dtype + "'");
    if (sh == value.end() || !sh->is_array()) corrupt(what, "tensor '" + key + "' has no shape list");
    uint64_t count = 1;
    for (auto& d : *sh) {
      if (!d.is_number_unsigned()) corrupt(what, "tensor '" + key + "' has a shape entry that is not a non-negative integer");
      const uint64_t n = d.get<uint64_t>();
      if (n != 0 && count > (uint64_t(1) << 62) / n) corrupt(what, "tensor '" + key + "' shape overflows");
      count *= n;
      t.shape.push_back(n);
    }
    if (off == value.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      corrupt(what, "tensor '" + key + "' has no [begin, end] data_offsets");
    t.begin = (*off)[0].get<uint64_t>();
    t.end = (*off)[1].get<uint64_t>();
    if (t.begin > t.end || t.end > data_size)
      corrupt(what, "tensor '" + key + "' byte range [" + std::to_string(t.begin) + ", " +
                        std::to_string(t.end) + ") lies outside the " + std::to_string(data_size) +
                        "-byte data section (truncated?)");
    // count * elem can exceed 64 bits (count is capped at 2^62, elem is up to 8): compare
    // by division first, so a wrapped product never matches the byte range.
    const uint64_t span = t.end - t.begin;
    if (count > span / elem || span != count * elem)
      corrupt(what, "tensor '" + key + "' holds " + std::to_string(span) +
                        " bytes but its shape and dtype need " +
                        (count > UINT64_MAX / elem ? std::string("more than 2^64")
                                                   : std::to_string(count * elem)));
    if (t.end > t.begin) ranges.emplace_back(t.begin, t.end);
    f.tensors_[key] = std::move(t);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) corrupt(what, "two tensors' byte ranges overlap");
  f.bytes_ = std::move(bytes);
  return f;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // Composed as text, keys in sorted order as a JSON object would dump them (see
  // io/json_text.hpp for why no json document is built here).
  std::map<std::string, std::string> entries;
  if (!metadata.empty()) {
    ObjectText meta;
    for (const auto& [key, value] : metadata) meta.add(key, quoted(value));
    entries["__metadata__"] = meta.str();
  }
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    std::string shape = "[";
    for (uint64_t d : t.shape) {
      if (shape.size() > 1) shape += ',';
      shape += std::to_string(d);
    }
    shape += ']';
    ObjectText entry;
    entry.add("data_offsets", int_array({offset, offset + t.bytes}));
    entry.add("dtype", quoted(t.dtype));
    entry.add("shape", shape);
    entries[t.name] = entry.str();
    offset += t.bytes;
  }
  ObjectText header;
  for (const auto& [key, value] : entries) header.add(key, value);
  std::string text = header.str();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned

  require_replaceable(path);
  // A name of its own per call: concurrent saves to one path must not share a temporary.
  static std::atomic<uint64_t> save_counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(save_counter++);
  try {  // whatever fails (even the stream buffer's allocation), no temporary stays
    std::ofstream out;
    if (!fault::should_fail(fault::Site::file_open)) out.open(tmp, std::ios::binary | std::ios::trunc);
    if (!out.is_open()) throw Error(SPINFER_STATUS_IO_ERROR, "cannot open '" + tmp + "' for writing");
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : tensors)
      out.write(static_cast<const char*>(t.data), static_cast<std::streamsize>(t.bytes));
    out.flush();
    if (fault::should_fail(fault::Site::file_write)) out.setstate(std::ios::badbit);
    if (!out) {
      out.close();
      std::remove(tmp.c_str());
      throw Error(SPINFER_STATUS_IO_ERROR, "cannot write '" + tmp + "' (disk full?)");
    }
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  try {
    require_replaceable(path);  // again: the path may have changed while the data was written
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (fault::should_fail(fault::Site::file_rename) || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(SPINFER_STATUS_IO_ERROR, "cannot rename '" + tmp + "' to '" + path + "'");
  }
}

}  // namespace spinfer::io
