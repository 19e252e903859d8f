#include "convert/convert.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "convert/checkpoint.hpp"
#include "convert/compression_config.hpp"
#include "convert/convert_job.hpp"
#include "convert/shard_writer.hpp"
#include "host/thread_pool.hpp"
#include "io/json_text.hpp"

namespace spinfer::convert {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// What becomes of every tensor of the checkpoint, in output-name order.
std::vector<Job> plan_jobs(const Checkpoint& ck, const Compression& compression, const ConvertOptions& o) {
  std::map<std::string, Job> jobs;
  const auto& tensors = ck.tensors();
  std::map<std::string, bool> consumed;
  if (compression.sparse_bitmask) {
    const std::string suffix = ".compressed";
    for (const auto& [name, ref] : tensors) {
      if (!ends_with(name, suffix)) continue;
      const std::string prefix = name.substr(0, name.size() - suffix.size());
      Job job;
      job.bitmask = true;
      job.prefix = prefix;
      job.name = prefix + ".weight";
      job.source = ref;
      const auto part = [&](const char* what) {
        auto it = tensors.find(prefix + what);
        require(it != tensors.end(), SPINFER_STATUS_CORRUPT_DATA, [&] {
          return "sparse-bitmask weight '" + prefix + "' has no tensor '" + prefix + what + "'";
        });
        consumed[prefix + what] = true;
        return it->second;
      };
      job.shape = part(".shape");
      job.bitmask_bits = part(".bitmask");
      job.row_offsets = part(".row_offsets");
      consumed[name] = true;
      require(!tensors.count(job.name), SPINFER_STATUS_CORRUPT_DATA, [&] {
        return "weight '" + job.name + "' is both dense and sparse-bitmask compressed";
      });
      job.kind = is_linear_weight(job.name) ? Job::Kind::matrix : Job::Kind::dense;
      job.linear = job.kind == Job::Kind::matrix && !is_lm_head(job.name);
      job.prune = job.linear && o.sparsity > 0;
      job.source_bytes = ref.bytes() + job.shape.bytes() + job.bitmask_bits.bytes() + job.row_offsets.bytes();
      jobs[job.name] = std::move(job);
    }
  }
  for (const auto& [name, ref] : tensors) {
    if (consumed.count(name)) continue;
    Job job;
    job.name = name;
    job.source = ref;
    job.source_bytes = ref.bytes();
    DType dt;
    if (!float_dtype(ref.entry->dtype, &dt)) job.kind = Job::Kind::copy;
    else if (is_linear_weight(name) && ref.entry->shape.size() == 2) job.kind = Job::Kind::matrix;
    else job.kind = Job::Kind::dense;
    job.linear = job.kind == Job::Kind::matrix && !is_lm_head(name);
    job.prune = job.linear && o.sparsity > 0;
    jobs[name] = std::move(job);
  }
  std::vector<Job> out;
  for (auto& [name, job] : jobs) out.push_back(std::move(job));
  return out;
}

// config.json of the output: the source's with torch_dtype set, and without its
// compression entry (the weights are no longer compressed-tensors).
std::string output_config(json& config, DType dtype) {
  config["torch_dtype"] = dtype == DType::bf16 ? "bfloat16" : "float16";
  for (const char* key : {"dtype", "quantization_config", "compression_config"}) {
    auto it = config.find(key);
    if (it == config.end()) continue;
    io::empty_bottom_up(*it);  // erasing a non-empty object would allocate in a destructor
    config.erase(key);
  }
  return config.dump(2) + "\n";
}

// Runs the jobs on `threads` workers while the caller's thread writes the results in
// order. At most 2 x threads results wait to be written, which bounds the memory.
void run_jobs(const std::vector<Job>& jobs, const ConvertOptions& o,
              const std::function<void(size_t, JobResult&)>& consume) {
  const int threads = std::max(1, std::min<int>(host::resolve_threads(o.threads), int(jobs.size())));
  const size_t window = size_t(threads) * 2;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<JobResult>> results(jobs.size());
  std::vector<std::exception_ptr> errors(jobs.size());
  std::atomic<size_t> next{0};
  size_t written = 0;
  bool stop = false;

  const auto worker = [&] {
    for (;;) {
      const size_t i = next++;
      if (i >= jobs.size()) return;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return stop || i < written + window; });
        if (stop) return;
      }
      std::optional<JobResult> r;
      std::exception_ptr error;
      try {
        r = run_job(jobs[i], o);
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mu);
      results[i] = std::move(r);
      errors[i] = error;
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  const auto join = [&] {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv.notify_all();
    for (auto& t : pool) t.join();
    pool.clear();
  };
  try {
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (size_t i = 0; i < jobs.size(); ++i) {
      JobResult r;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return results[i].has_value() || errors[i]; });
        if (errors[i]) std::rethrow_exception(errors[i]);
        r = std::move(*results[i]);
        results[i].reset();
      }
      consume(i, r);
      {
        std::lock_guard<std::mutex> lock(mu);
        ++written;
      }
      cv.notify_all();
    }
  } catch (...) {
    join();
    throw;
  }
  join();
}

}  // namespace

bool is_linear_weight(const std::string& name) {
  static const char* const kLinear[] = {"q_proj", "k_proj", "v_proj", "o_proj", "out_proj", "fc1",
                                        "fc2", "gate_proj", "up_proj", "down_proj"};
  if (is_lm_head(name)) return true;
  for (const char* l : kLinear)
    if (ends_with(name, std::string(".") + l + ".weight")) return true;
  return false;
}

ConvertReport convert_model(const std::string& src, const std::string& dst, const ConvertOptions& o) {
  require(o.sparsity >= 0.0 && o.sparsity < 1.0, SPINFER_STATUS_INVALID_ARGUMENT,
          [&] { return "sparsity must be in [0, 1), got " + std::to_string(o.sparsity); });
  require(is_storage_dtype(o.dtype), SPINFER_STATUS_UNSUPPORTED_DTYPE, "the output dtype must be F16 or BF16");
  require(o.shard_size >= 1, SPINFER_STATUS_INVALID_ARGUMENT, "shard_size must be at least 1 byte");
  require(o.threads >= 0 && o.threads <= 1024, SPINFER_STATUS_INVALID_ARGUMENT,
          [&] { return "threads must be in [0, 1024], got " + std::to_string(o.threads); });
  std::error_code ec;
  require(fs::is_directory(src, ec), SPINFER_STATUS_IO_ERROR, [&] { return "'" + src + "' is not a directory"; });
  require(!(fs::exists(dst, ec) && fs::equivalent(src, dst, ec)), SPINFER_STATUS_INVALID_ARGUMENT,
          "the destination is the source directory; convert into another one");

  // The config first: a quantized checkpoint is refused before its shards are opened.
  json config;
  io::JsonTeardown teardown{config};
  const std::string what = "'" + src + "/config.json'";
  const std::string syntax = io::parse_json(read_config_text(src), config);
  require(syntax.empty(), SPINFER_STATUS_CORRUPT_DATA, [&] { return what + " is not valid JSON (" + syntax + ")"; });
  require(config.is_object(), SPINFER_STATUS_CORRUPT_DATA, [&] { return what + " is not a JSON object"; });
  const Compression compression = read_compression(config, what);
  Checkpoint ck(src);
  const std::vector<Job> jobs = plan_jobs(ck, compression, o);

  fs::create_directories(dst, ec);
  require(fs::is_directory(dst, ec), SPINFER_STATUS_IO_ERROR, [&] { return "cannot create the directory '" + dst + "'"; });

  ConvertReport report;
  ConvertProgress progress;
  progress.tensors_total = int64_t(jobs.size());
  for (const Job& j : jobs) progress.bytes_total += j.source_bytes;
  ShardWriter writer(dst, o.shard_size);
  run_jobs(jobs, o, [&](size_t i, JobResult& r) {
    const Job& job = jobs[i];
    report.matrices += r.matrix;
    report.matrices_dense += r.left_dense;
    report.imported += job.bitmask;
    if (job.linear) {
      report.linear_nnz += r.nnz;
      report.linear_elements += r.elements;
    }
    writer.add(std::move(r.unit));
    ++report.tensors;
    progress.tensors_done = report.tensors;
    progress.bytes_done += job.source_bytes;
    if (o.progress) {
      progress.tensor = job.name.c_str();
      progress.note = r.note.c_str();
      o.progress(progress);
    }
  });
  report.shards = writer.finish();
  report.bytes_written = writer.bytes_written();
  report.bytes_read = progress.bytes_total;

  write_text_file(dst + "/config.json", output_config(config, o.dtype));
  for (const char* extra : {"tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
                            "generation_config.json"}) {
    const fs::path from = fs::path(src) / extra;
    if (fs::is_regular_file(from, ec))
      fs::copy_file(from, fs::path(dst) / extra, fs::copy_options::overwrite_existing, ec);
  }
  return report;
}

}  // namespace spinfer::convert
