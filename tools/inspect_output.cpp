#include "inspect_output.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace spinfer_tool {

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s;
  for (const int64_t d : shape) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s.empty() ? "scalar" : s;
}

double ratio(uint64_t dense, uint64_t encoded) { return encoded ? double(dense) / double(encoded) : 0.0; }

double sparsity(const TensorReport& t) { return t.elements > 0 ? double(t.zeros) / double(t.elements) : 0.0; }

uint64_t projected(const TensorReport& t) {
  if (t.matrix) return t.encoded_bytes;
  if (t.encoded_bytes != 0 && t.encoded_bytes < t.dense_fp16_bytes) return t.encoded_bytes;
  return t.dense_fp16_bytes;
}

void print_model_text(const ModelReport& m) {
  if (!m.error.empty()) {
    std::printf("model: not loadable: %s\n", m.error.c_str());
    return;
  }
  std::printf("model: %s, %lld layers, hidden %lld, vocab %lld, %s; as spinfer_model_load takes it: "
              "%llu bytes of weights vs %llu with every matrix dense (%.2fx smaller)\n",
              m.arch.c_str(), (long long)m.layers, (long long)m.hidden, (long long)m.vocab, m.dtype.c_str(),
              (unsigned long long)m.weight_bytes, (unsigned long long)m.dense_weight_bytes,
              ratio(m.dense_weight_bytes, m.weight_bytes));
}

}  // namespace

InspectTotals sum_reports(const std::vector<FileReport>& files) {
  InspectTotals s;
  for (const FileReport& f : files) {
    s.errors += !f.error.empty();
    for (const TensorReport& t : f.tensors) {
      s.tensors += 1;
      s.matrices += t.matrix;
      s.errors += !t.error.empty();
      s.stored_bytes += t.bytes;
      s.dense_fp16_bytes += t.dense_fp16_bytes;
      s.projected_bytes += projected(t);
    }
  }
  return s;
}

void print_text(const std::vector<FileReport>& files, const ModelReport* model) {
  for (const FileReport& f : files) {
    if (!f.error.empty()) {
      std::printf("%s: ERROR: %s\n", f.path.c_str(), f.error.c_str());
      continue;
    }
    int64_t matrices = 0;
    size_t width = 4;
    for (const TensorReport& t : f.tensors) {
      matrices += t.matrix;
      width = std::max(width, t.name.size());
    }
    std::printf("%s: %zu tensors, %lld spinfer matri%s\n", f.path.c_str(), f.tensors.size(), (long long)matrices,
                matrices == 1 ? "x" : "ces");
    std::printf("  %-*s  %-6s  %-5s  %-14s  %8s  %12s  %12s  %8s\n", int(width), "name", "kind", "dtype", "shape",
                "sparsity", "bytes", "encoded", "vs fp16");
    for (const TensorReport& t : f.tensors) {
      if (t.matrix && !t.error.empty()) {  // nothing of it is known but the name
        std::printf("  %-*s  matrix  ERROR: %s\n", int(width), t.name.c_str(), t.error.c_str());
        continue;
      }
      std::string enc = t.encoded_bytes ? std::to_string(t.encoded_bytes) : "-";
      char cmp[32] = "-";
      if (t.encoded_bytes) std::snprintf(cmp, sizeof cmp, "%.2fx", ratio(t.dense_fp16_bytes, t.encoded_bytes));
      char sp[32] = "-";
      if (t.zeros >= 0) std::snprintf(sp, sizeof sp, "%.2f %%", 100.0 * sparsity(t));
      std::printf("  %-*s  %-6s  %-5s  %-14s  %8s  %12llu  %12s  %8s%s%s\n", int(width), t.name.c_str(),
                  t.matrix ? "matrix" : "dense", t.dtype.c_str(), shape_text(t.shape).c_str(), sp,
                  (unsigned long long)t.bytes, enc.c_str(), cmp, t.error.empty() ? "" : "  ERROR: ",
                  t.error.c_str());
    }
  }
  const InspectTotals s = sum_reports(files);
  std::printf("total: %lld tensors (%lld spinfer matrices, each validated), %llu bytes stored\n", (long long)s.tensors,
              (long long)s.matrices, (unsigned long long)s.stored_bytes);
  if (s.projected_bytes)
    std::printf("projected: %llu bytes with the 2-D weights encoded (where smaller, the rest fp16) vs %llu bytes "
                "dense fp16: %.2fx smaller\n",
                (unsigned long long)s.projected_bytes, (unsigned long long)s.dense_fp16_bytes,
                ratio(s.dense_fp16_bytes, s.projected_bytes));
  if (model) print_model_text(*model);
}

int print_errors(const std::vector<FileReport>& files, const ModelReport* model) {
  int errors = 0;
  for (const FileReport& f : files) {
    if (!f.error.empty()) std::fprintf(stderr, "spinfer inspect: %s: %s\n", f.path.c_str(), f.error.c_str());
    errors += !f.error.empty();
    for (const TensorReport& t : f.tensors) {
      if (!t.error.empty())
        std::fprintf(stderr, "spinfer inspect: %s: %s: %s\n", f.path.c_str(), t.name.c_str(), t.error.c_str());
      errors += !t.error.empty();
    }
  }
  if (model && !model->error.empty()) {
    std::fprintf(stderr, "spinfer inspect: the model: %s\n", model->error.c_str());
    ++errors;
  }
  return errors;
}

void print_json(const std::string& input, const std::vector<FileReport>& files, const ModelReport* model) {
  using nlohmann::json;
  auto or_null = [](const std::string& e) { return e.empty() ? json(nullptr) : json(e); };
  json out = {{"path", input}, {"files", json::array()}};
  for (const FileReport& f : files) {
    json jf = {{"path", f.path}, {"error", or_null(f.error)}, {"tensors", json::array()}};
    for (const TensorReport& t : f.tensors) {
      jf["tensors"].push_back({{"name", t.name},
                               {"kind", t.matrix ? "matrix" : "dense"},
                               {"dtype", t.dtype},
                               {"shape", t.shape},
                               {"elements", t.elements},
                               {"zeros", t.zeros >= 0 ? json(t.zeros) : json(nullptr)},
                               {"sparsity", t.zeros >= 0 ? json(sparsity(t)) : json(nullptr)},
                               {"bytes", t.bytes},
                               {"dense_fp16_bytes", t.dense_fp16_bytes},
                               {"encoded_bytes", t.encoded_bytes ? json(t.encoded_bytes) : json(nullptr)},
                               {"error", or_null(t.error)}});
    }
    out["files"].push_back(jf);
  }
  const InspectTotals s = sum_reports(files);
  out["totals"] = {{"tensors", s.tensors},
                   {"matrices", s.matrices},
                   {"errors", s.errors},
                   {"stored_bytes", s.stored_bytes},
                   {"dense_fp16_bytes", s.dense_fp16_bytes},
                   {"projected_bytes", s.projected_bytes}};
  if (model) {
    out["model"] = {{"error", or_null(model->error)}};
    if (model->error.empty()) {
      out["model"].update({{"arch", model->arch},
                           {"layers", model->layers},
                           {"hidden_size", model->hidden},
                           {"vocab_size", model->vocab},
                           {"dtype", model->dtype},
                           {"weight_bytes", model->weight_bytes},
                           {"dense_weight_bytes", model->dense_weight_bytes}});
    }
  } else {
    out["model"] = nullptr;
  }
  std::printf("%s\n", out.dump(2, ' ', false, json::error_handler_t::replace).c_str());
}

}  // namespace spinfer_tool
