#include "convert/shard_writer.hpp"

#include <algorithm>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <map>
#include <set>

#include "common/error.hpp"
#include "io/json_text.hpp"

namespace spinfer::convert {
namespace {

std::string shard_name(size_t i, size_t n) {
  if (n == 1) return "model.safetensors";
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

const char kIndexName[] = "model.safetensors.index.json";

// Files an earlier conversion may have written: model*.safetensors and the index.
std::vector<std::string> earlier_outputs(const std::string& dir) {
  std::vector<std::string> found;
  std::unique_ptr<DIR, int (*)(DIR*)> listing(::opendir(dir.c_str()), ::closedir);
  if (!listing) return found;
  const std::string ext = ".safetensors";
  while (const dirent* e = ::readdir(listing.get())) {
    const std::string name = e->d_name;
    const bool shard = name.rfind("model", 0) == 0 && name.size() > ext.size() &&
                       name.compare(name.size() - ext.size(), ext.size(), ext) == 0;
    if (shard || name == kIndexName) found.push_back(name);
  }
  return found;
}

}  // namespace

void write_text_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw Error(SPINFER_STATUS_IO_ERROR, "cannot write '" + tmp + "' (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(SPINFER_STATUS_IO_ERROR, "cannot rename '" + tmp + "' to '" + path + "'");
  }
}

uint64_t OutputUnit::size() const {
  uint64_t n = 0;
  for (const auto& t : tensors) n += t.bytes;
  return n;
}

ShardWriter::ShardWriter(std::string dir, uint64_t shard_size) : dir_(std::move(dir)), shard_size_(shard_size) {}

ShardWriter::~ShardWriter() {
  if (finished_) return;
  for (const std::string& p : provisional_) std::remove(p.c_str());
}

void ShardWriter::add(std::unique_ptr<OutputUnit> unit) {
  const uint64_t size = unit->size();
  if (!pending_.empty() && pending_size_ + size > shard_size_) flush();
  pending_size_ += size;
  pending_.push_back(std::move(unit));
}

void ShardWriter::flush() {
  std::vector<io::TensorToWrite> tensors;
  std::map<std::string, std::string> metadata{{"format", "pt"}, {"spinfer.format", "tca-bme"}};
  std::vector<std::string> names;
  for (const auto& unit : pending_) {
    for (const auto& t : unit->tensors) {
      tensors.push_back(t);
      names.push_back(t.name);
    }
    for (const auto& [key, value] : unit->metadata) metadata[key] = value;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "/.spinfer-shard-%05zu.partial", provisional_.size() + 1);
  const std::string path = dir_ + buf;
  io::write_safetensors(path, tensors, metadata);
  provisional_.push_back(path);
  names_.push_back(std::move(names));
  total_ += pending_size_;
  pending_.clear();
  pending_size_ = 0;
}

int ShardWriter::finish() {
  if (!pending_.empty() || provisional_.empty()) flush();
  const std::vector<std::string> earlier = earlier_outputs(dir_);
  const size_t n = provisional_.size();
  std::set<std::string> written;
  for (size_t i = 0; i < n; ++i) {
    const std::string name = shard_name(i, n);
    const std::string path = dir_ + "/" + name;
    if (std::rename(provisional_[i].c_str(), path.c_str()) != 0)
      throw Error(SPINFER_STATUS_IO_ERROR, "cannot rename '" + provisional_[i] + "' to '" + path + "'");
    provisional_[i] = path;
    written.insert(name);
  }
  if (n > 1) {
    // Composed as text (io/json_text.hpp); keys sorted as json.dumps(sort_keys) would.
    std::map<std::string, std::string> file_of;
    for (size_t i = 0; i < n; ++i)
      for (const std::string& t : names_[i]) file_of[t] = shard_name(i, n);
    io::ObjectText weight_map;
    for (const auto& [tensor, file] : file_of) weight_map.add(tensor, io::quoted(file));
    io::ObjectText meta;
    meta.add("total_size", std::to_string(total_));
    io::ObjectText index;
    index.add("metadata", meta.str());
    index.add("weight_map", weight_map.str());
    write_text_file(dir_ + "/" + kIndexName, index.str() + "\n");
    written.insert(kIndexName);
  }
  finished_ = true;
  for (const std::string& name : earlier)
    if (!written.count(name)) std::remove((dir_ + "/" + name).c_str());
  return int(n);
}

}  // namespace spinfer::convert
