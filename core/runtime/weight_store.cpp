#include "runtime/weight_store.hpp"

#include <algorithm>
#include <cstring>
#include <dirent.h>
#include <filesystem>
#include <memory>

#include "common/error.hpp"
#include "format/encode.hpp"
#include "io/matrix_file.hpp"

namespace spinfer::runtime {

namespace fs = std::filesystem;

WeightStore::WeightStore(const std::string& dir) {
  std::error_code ec;
  require(fs::is_directory(dir, ec), SPINFER_STATUS_IO_ERROR,
          [&] { return "'" + dir + "' is not a directory"; });
  // POSIX listing, not fs::directory_iterator: libstdc++ 12's error_code form
  // terminates the process when its own allocation fails (found by fault injection).
  std::unique_ptr<DIR, int (*)(DIR*)> listing(::opendir(dir.c_str()), ::closedir);
  require(listing != nullptr, SPINFER_STATUS_IO_ERROR, [&] { return "cannot list '" + dir + "'"; });
  std::vector<std::string> found;
  while (const dirent* e = ::readdir(listing.get())) {
    const std::string name = e->d_name;
    const fs::path path = fs::path(dir) / name;
    if (path.extension() == ".safetensors") found.push_back(path.string());
  }
  require(!found.empty(), SPINFER_STATUS_NOT_FOUND, [&] { return "no .safetensors file in '" + dir + "'"; });
  std::sort(found.begin(), found.end());
  for (const std::string& path : found) {
    files_.push_back(std::make_unique<io::SafetensorsFile>(io::SafetensorsFile::read(path)));
    paths_.push_back(path);
    const io::SafetensorsFile* f = files_.back().get();
    // A name in two files would make the outcome depend on which file sorts last (a stray
    // copy changes the model): refuse it, naming both files.
    const auto add = [&](std::map<std::string, Located>& to, const std::string& name, const char* what) {
      const auto added = to.emplace(name, Located{f, path});
      require(added.second, SPINFER_STATUS_CORRUPT_DATA, [&] {
        return std::string(what) + " '" + name + "' is in both '" + added.first->second.path + "' and '" +
               path + "' (remove the stray file)";
      });
    };
    for (const std::string& m : io::list_matrices(*f)) add(matrices_, m, "matrix");
    for (const auto& [name, entry] : f->tensors()) add(tensors_, name, "tensor");
  }
}

bool WeightStore::has(const std::string& name) const {
  return matrices_.count(name) || tensors_.count(name);
}

const io::TensorEntry& WeightStore::tensor(const std::string& name, int64_t elements,
                                           const Located** where) const {
  auto it = tensors_.find(name);
  require(it != tensors_.end(), SPINFER_STATUS_NOT_FOUND,
          [&] { return "model weights have no tensor '" + name + "'"; });
  const io::TensorEntry& t = it->second.file->tensors().at(name);
  uint64_t count = 1;
  for (uint64_t d : t.shape) count *= d;
  require(int64_t(count) == elements, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
    return "tensor '" + name + "' has " + std::to_string(count) + " elements, expected " +
           std::to_string(elements);
  });
  require(t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16", SPINFER_STATUS_UNSUPPORTED_DTYPE,
          [&] { return "tensor '" + name + "' has dtype " + t.dtype + "; F32, F16 or BF16 expected"; });
  *where = &it->second;
  return t;
}

static DType dtype_of(const std::string& s) {
  return s == "F32" ? DType::f32 : s == "F16" ? DType::f16 : DType::bf16;
}

std::vector<float> WeightStore::dense(const std::string& name, int64_t elements) const {
  const Located* where = nullptr;
  const io::TensorEntry& t = tensor(name, elements, &where);
  const uint8_t* data = where->file->data(t);
  const DType dt = dtype_of(t.dtype);
  std::vector<float> out(static_cast<size_t>(elements));
  for (int64_t i = 0; i < elements; ++i) {
    // safetensors data is not necessarily aligned: go through a copy.
    if (dt == DType::f32) {
      float f;
      std::memcpy(&f, data + i * 4, 4);
      out[size_t(i)] = f;
    } else {
      uint16_t h;
      std::memcpy(&h, data + i * 2, 2);
      out[size_t(i)] = storage_to_float(h, dt);
    }
  }
  return out;
}

std::vector<uint16_t> WeightStore::dense16(const std::string& name, int64_t elements, DType dtype) const {
  const Located* where = nullptr;
  const io::TensorEntry& t = tensor(name, elements, &where);
  std::vector<uint16_t> out(static_cast<size_t>(elements));
  if (dtype_of(t.dtype) == dtype) {
    std::memcpy(out.data(), where->file->data(t), size_t(elements) * 2);
    return out;
  }
  const std::vector<float> f = dense(name, elements);
  for (size_t i = 0; i < f.size(); ++i) out[i] = float_to_storage(f[i], dtype);
  return out;
}

HostMatrix WeightStore::matrix(const std::string& name, int64_t rows, int64_t cols, DType storage) const {
  auto it = matrices_.find(name);
  if (it != matrices_.end()) {
    HostMatrix m = io::load_matrix(*it->second.file, it->second.path, name);
    require(m.rows == rows && m.cols == cols, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
      return "matrix '" + name + "' is [" + std::to_string(m.rows) + ", " + std::to_string(m.cols) +
             "], expected [" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
    });
    return m;
  }
  require(tensors_.count(name) > 0, SPINFER_STATUS_NOT_FOUND,
          [&] { return "model weights have no matrix or tensor '" + name + "'"; });
  const Located* where = nullptr;
  const io::TensorEntry& t = tensor(name, rows * cols, &where);
  require(t.shape.size() == 2 && int64_t(t.shape[0]) == rows, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
    return "tensor '" + name + "' is not [" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
  });
  const DType dt = dtype_of(t.dtype);
  // Copy to an aligned buffer: safetensors data offsets need not be aligned.
  std::vector<uint8_t> aligned(size_t(rows * cols) * dtype_size(dt));
  std::memcpy(aligned.data(), where->file->data(t), aligned.size());
  return encode(aligned.data(), dt, rows, cols, cols, storage);
}

}  // namespace spinfer::runtime
