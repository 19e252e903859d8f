#include "ttft_report.hpp"

#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace bench {

namespace {

std::string format(const char* fmt, ...) {
  va_list args, again;
  va_start(args, fmt);
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, args);
  va_end(args);
  std::string out(size_t(n > 0 ? n : 0), '\0');
  std::vsnprintf(out.data(), out.size() + 1, fmt, again);
  va_end(again);
  return out;
}

double at(const TtftResults& r, size_t mode, size_t cell) {
  if (mode >= r.ms.size() || cell >= r.ms[mode].size()) return std::nan("");
  return r.ms[mode][cell];
}

double mode_sparsity(const TtftPlan& p, size_t mode) { return mode ? p.sparsities[mode - 1] : -1.0; }

// `v` with `fmt`, or `missing` when v is NaN.
std::string number(const char* fmt, double v, const char* missing) {
  return std::isnan(v) ? std::string(missing) : format(fmt, v);
}

}  // namespace

std::string sparsity_label(double sparsity) {
  if (sparsity < 0) return "dense";
  const double pct = sparsity * 100.0;
  if (std::fabs(pct - std::round(pct)) < 1e-6) return format("%.0f%%", pct);
  return format("%.1f%%", pct);
}

std::string ttft_header(const TtftPlan& p) {
  std::string s = format("\n## Time to first token: %d LLaMA-2-7B-shaped layers, vocab 32000, fp16\n\n", p.layers);
  s += "TTFT = the prompt's prefill through every layer, the final norm and the LM head of its last token, "
       "and the logits' copy to the host. The runner prefills one sequence per `Model::prefill` call: batch B "
       "= B calls back to back (the time until all B sequences have their first token), each prompt in one "
       "chunk (max_batch_tokens = the longest prompt). ";
  s += format("CUDA events around the calls; median of %d runs after %d warm-ups; the dense model, then each "
              "sparse one, built and timed in this run (embeddings and LM head dense in all). ",
              p.reps, p.warmups);
  s += format("`/ dense` = sparse TTFT / dense TTFT (target <= %.2f); `ms/layer` = TTFT / %d (embedding, "
              "final norm and LM head included).\n\n",
              kTtftTarget, p.layers);
  s += format("Plan: %zu points x %zu modes, %lld prompt tokens prefilled per mode (warm-ups included).\n",
              p.cells.size(), p.modes(), static_cast<long long>(p.tokens_per_mode()));
  return s;
}

std::string ttft_table(const TtftPlan& p, const TtftResults& r) {
  std::string s = "\n| prompt | batch | prefill calls | dense ms | dense ms/layer | dense tok/s |";
  for (double sp : p.sparsities) {
    const std::string l = sparsity_label(sp);
    s += " " + l + " ms | " + l + " ms/layer | " + l + " / dense |";
  }
  s += "\n|---|---|---|---|---|---|";
  for (size_t i = 0; i < p.sparsities.size(); ++i) s += "---|---|---|";
  s += "\n";
  for (size_t c = 0; c < p.cells.size(); ++c) {
    const TtftCell& cell = p.cells[c];
    const double dense = at(r, 0, c);
    s += format("| %d | %d | %d | %s | %s | %s |", cell.prompt, cell.batch, cell.batch,
                number("%.2f", dense, "error").c_str(), number("%.3f", dense / p.layers, "-").c_str(),
                number("%.0f", double(cell.prompt) * cell.batch / (dense * 1e-3), "-").c_str());
    for (size_t m = 1; m < p.modes(); ++m) {
      const double t = at(r, m, c);
      s += format(" %s | %s | %s |", number("%.2f", t, "error").c_str(), number("%.3f", t / p.layers, "-").c_str(),
                  number("%.3f", t / dense, "-").c_str());
    }
    s += "\n";
  }
  return s;
}

std::string ttft_csv(const TtftPlan& p, const TtftResults& r) {
  std::string s = "prompt,batch,prefill_calls,layers,mode,sparsity,ttft_ms,ms_per_layer,tokens_per_s,vs_dense,reps\n";
  for (size_t c = 0; c < p.cells.size(); ++c) {
    const TtftCell& cell = p.cells[c];
    const double dense = at(r, 0, c);
    for (size_t m = 0; m < p.modes(); ++m) {
      const double sp = mode_sparsity(p, m), t = at(r, m, c);
      s += format("%d,%d,%d,%d,%s,%s,%s,%s,%s,%s,%d\n", cell.prompt, cell.batch, cell.batch, p.layers,
                  m ? "sparse" : "dense", format("%g", m ? sp : 0.0).c_str(), number("%.4f", t, "").c_str(),
                  number("%.5f", t / p.layers, "").c_str(),
                  number("%.1f", double(cell.prompt) * cell.batch / (t * 1e-3), "").c_str(),
                  number("%.4f", t / dense, "").c_str(), p.reps);
    }
  }
  return s;
}

std::vector<std::string> ttft_targets(const TtftPlan& p, const TtftResults& r) {
  std::vector<std::string> out;
  for (size_t m = 1; m < p.modes(); ++m)
    for (size_t c = 0; c < p.cells.size(); ++c) {
      const double ratio = at(r, m, c) / at(r, 0, c);
      const std::string what = std::isnan(ratio) ? std::string("not measured") : format("%.3fx dense", ratio);
      out.push_back(format("TARGET TTFT %s prompt %d batch %d: %s (target <= %.2fx)",
                           sparsity_label(mode_sparsity(p, m)).c_str(), p.cells[c].prompt, p.cells[c].batch,
                           what.c_str(), kTtftTarget));
    }
  return out;
}

}  // namespace bench
