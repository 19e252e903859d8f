// The CUDA-free part of bench_layers' time-to-first-token sweep: the command line, the
// sweep plan and the tables from made-up timings (the GPU part runs on a GPU machine).
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "bench_options.hpp"
#include "bench_stats.hpp"
#include "ttft_plan.hpp"
#include "ttft_report.hpp"

using namespace bench;

namespace {

Options parse(std::vector<std::string> args) {
  std::vector<const char*> argv = {"bench_layers"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_options(int(argv.size()), argv.data());
}

std::string refusal(std::vector<std::string> args) {
  try {
    parse(std::move(args));
  } catch (const OptionError& e) {
    return e.what();
  }
  return "";
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("bench_layers command line: defaults and sections") {
  const Options d = parse({});
  CHECK(d.layers);
  CHECK(d.model);
  CHECK_FALSE(d.ttft);
  CHECK(d.reps == 0);
  CHECK(d.model_layers == 32);

  const Options t = parse({"--ttft", "--prompts", "128,512,2048", "--batches", "1,8", "--sparsities", "0.5,0.6,0.7",
                           "--reps", "9", "--model-layers", "8", "--csv", "ttft.csv"});
  CHECK(t.ttft);
  CHECK_FALSE(t.layers);
  CHECK_FALSE(t.model);
  CHECK(t.prompts == std::vector<int>{128, 512, 2048});
  CHECK(t.batches == std::vector<int>{1, 8});
  CHECK(t.sparsities == std::vector<double>{0.5, 0.6, 0.7});
  CHECK(t.reps == 9);
  CHECK(t.model_layers == 8);
  CHECK(t.csv == "ttft.csv");

  CHECK_FALSE(parse({"--layers-only"}).model);
  CHECK_FALSE(parse({"--model-only"}).layers);
  CHECK(parse({"--sparsities", "0.55"}).sparsities == std::vector<double>{0.55});  // every section
  CHECK(parse({"--help"}).help);
}

TEST_CASE("bench_layers command line: refusals say why") {
  CHECK(refusal({"--prompts", "128"}).find("add --ttft") != std::string::npos);
  CHECK(refusal({"--batches", "8"}).find("add --ttft") != std::string::npos);
  CHECK(refusal({"--csv", "x.csv"}).find("add --ttft") != std::string::npos);
  CHECK(refusal({"--ttft", "--model-only"}).find("at most one") != std::string::npos);
  CHECK(refusal({"--layers-only", "--model-only"}).find("at most one") != std::string::npos);
  CHECK(refusal({"--layers-only", "--model-layers", "4"}).find("--layers-only skips") != std::string::npos);
  CHECK(refusal({"--ttft", "--prompts", "12x"}) == "--prompts: '12x' is not an integer");
  CHECK(refusal({"--ttft", "--prompts", "0"}).find("outside [1, 16384]") != std::string::npos);
  CHECK(refusal({"--ttft", "--prompts", "16385"}).find("outside") != std::string::npos);
  CHECK(refusal({"--ttft", "--prompts", "+5"}).find("not an integer") != std::string::npos);
  CHECK(refusal({"--ttft", "--prompts", " 5"}).find("not an integer") != std::string::npos);
  CHECK(refusal({"--ttft", "--prompts", "99999999999999999999"}).find("not an integer") != std::string::npos);
  CHECK(refusal({"--ttft", "--prompts", "128,,512"}).find("empty item") != std::string::npos);
  CHECK(refusal({"--ttft", "--prompts", "128,"}).find("empty item") != std::string::npos);
  CHECK(refusal({"--ttft", "--prompts", ""}).find("empty item") != std::string::npos);
  CHECK(refusal({"--ttft", "--prompts", "512,512"}).find("listed twice") != std::string::npos);
  CHECK(refusal({"--ttft", "--batches", "65"}).find("outside [1, 64]") != std::string::npos);
  CHECK(refusal({"--ttft", "--batches", "-1"}).find("outside") != std::string::npos);
  CHECK(refusal({"--sparsities", "60"}).find("not a percentage") != std::string::npos);
  CHECK(refusal({"--sparsities", "0"}).find("outside [0.01, 0.99]") != std::string::npos);
  CHECK(refusal({"--sparsities", "nan"}).find("not a number") != std::string::npos);
  CHECK(refusal({"--sparsities", "0.6x"}).find("not a number") != std::string::npos);
  CHECK(refusal({"--sparsities", "0.6,0.60"}).find("listed twice") != std::string::npos);
  CHECK(refusal({"--reps", "2"}).find("outside [3, 10000]") != std::string::npos);
  CHECK(refusal({"--reps"}) == "--reps: needs a value");
  CHECK(refusal({"--model-layers", "81"}).find("outside [1, 80]") != std::string::npos);
  CHECK(refusal({"--ttft", "--csv", ""}).find("needs a file name") != std::string::npos);
  CHECK(refusal({"--frobnicate"}) == "unknown option '--frobnicate'");
  CHECK(usage("bench_layers").find("--prompts LIST") != std::string::npos);
}

TEST_CASE("TTFT sweep plan") {
  const TtftPlan p = make_ttft_plan(parse({"--ttft"}));
  REQUIRE(p.cells.size() == 6);  // prompt-major
  CHECK(p.cells[0].prompt == 128);
  CHECK(p.cells[0].batch == 1);
  CHECK(p.cells[1].prompt == 128);
  CHECK(p.cells[1].batch == 8);
  CHECK(p.cells[5].prompt == 2048);
  CHECK(p.cells[5].batch == 8);
  CHECK(p.sparsities == std::vector<double>{0.5, 0.6, 0.7});
  CHECK(p.modes() == 4);
  CHECK(p.layers == 32);
  CHECK(p.reps == 7);
  CHECK(p.warmups == 2);
  CHECK(p.max_prompt() == 2048);
  CHECK(p.max_batch() == 8);
  CHECK(p.kv_blocks() == 8 * 128);
  CHECK(p.tokens_per_mode() == (128 + 512 + 2048) * 9 * 9);

  const TtftPlan q = make_ttft_plan(parse({"--ttft", "--quick"}));
  REQUIRE(q.cells.size() == 2);
  CHECK(q.cells[0].prompt == 512);
  CHECK(q.sparsities == std::vector<double>{0.6});
  CHECK(q.reps == 5);

  const TtftPlan r = make_ttft_plan(parse({"--ttft", "--prompts", "100", "--batches", "3", "--model-layers", "4",
                                           "--reps", "3", "--sparsities", "0.7"}));
  REQUIRE(r.cells.size() == 1);
  CHECK(r.kv_blocks() == 3 * 7);  // 100 tokens need 7 blocks of 16
  CHECK(r.layers == 4);
  CHECK(r.reps == 3);
  CHECK(r.tokens_per_mode() == 300 * 5);
}

TEST_CASE("TTFT table, CSV and targets from made-up timings") {
  const TtftPlan p = make_ttft_plan(parse({"--ttft", "--prompts", "128,2048", "--batches", "1,8", "--sparsities",
                                           "0.5,0.7"}));
  TtftResults r;
  r.ms = {{4.0, 32.0, 64.0, 512.0}, {4.2, 30.0, 64.0, 512.0}, {3.2, std::nan(""), 70.4, 480.0}};
  r.errors.push_back("TTFT 70% prompt 128 batch 8: out of memory");

  const std::string table = ttft_table(p, r);
  CHECK(table.find("| prompt | batch | prefill calls | dense ms | dense ms/layer | dense tok/s | 50% ms | "
                   "50% ms/layer | 50% / dense | 70% ms | 70% ms/layer | 70% / dense |") != std::string::npos);
  CHECK(table.find("|---|---|---|---|---|---|---|---|---|---|---|---|\n") != std::string::npos);
  CHECK(table.find("| 128 | 1 | 1 | 4.00 | 0.125 | 32000 | 4.20 | 0.131 | 1.050 | 3.20 | 0.100 | 0.800 |") !=
        std::string::npos);
  CHECK(table.find("| 128 | 8 | 8 | 32.00 | 1.000 | 32000 | 30.00 | 0.938 | 0.938 | error | - | - |") !=
        std::string::npos);
  CHECK(table.find("| 2048 | 8 | 8 | 512.00 | 16.000 | 32000 | 512.00 | 16.000 | 1.000 | 480.00 | 15.000 | 0.938 |") !=
        std::string::npos);
  CHECK(count(table, "\n| ") == 5);  // header + 4 rows

  const std::string csv = ttft_csv(p, r);
  CHECK(csv.rfind("prompt,batch,prefill_calls,layers,mode,sparsity,ttft_ms,ms_per_layer,tokens_per_s,vs_dense,reps\n",
                  0) == 0);
  CHECK(count(csv, "\n") == 1 + 4 * 3);
  CHECK(csv.find("128,1,1,32,dense,0,4.0000,0.12500,32000.0,1.0000,7\n") != std::string::npos);
  CHECK(csv.find("128,1,1,32,sparse,0.5,4.2000,0.13125,30476.2,1.0500,7\n") != std::string::npos);
  CHECK(csv.find("128,8,8,32,sparse,0.7,,,,,7\n") != std::string::npos);

  const std::vector<std::string> t = ttft_targets(p, r);
  REQUIRE(t.size() == 8);
  CHECK(t[0] == "TARGET TTFT 50% prompt 128 batch 1: 1.050x dense (target <= 1.05x)");
  CHECK(t[5] == "TARGET TTFT 70% prompt 128 batch 8: not measured (target <= 1.05x)");

  const std::string header = ttft_header(p);
  CHECK(header.find("32 LLaMA-2-7B-shaped layers") != std::string::npos);
  CHECK(header.find("batch B = B calls") != std::string::npos);
  CHECK(header.find("median of 7 runs after 2 warm-ups") != std::string::npos);
}

TEST_CASE("TTFT results with a failed dense mode print no ratios") {
  const TtftPlan p = make_ttft_plan(parse({"--ttft", "--prompts", "512", "--batches", "1", "--sparsities", "0.6"}));
  TtftResults r;
  r.ms = {{std::nan("")}, {std::nan("")}};
  CHECK(ttft_table(p, r).find("| 512 | 1 | 1 | error | - | - | error | - | - |") != std::string::npos);
  CHECK(ttft_targets(p, r).at(0) == "TARGET TTFT 60% prompt 512 batch 1: not measured (target <= 1.05x)");
}

TEST_CASE("sparsity labels and the median") {
  CHECK(sparsity_label(-1) == "dense");
  CHECK(sparsity_label(0.6) == "60%");
  CHECK(sparsity_label(0.57) == "57%");  // not 56 (0.57 * 100 < 57 in binary)
  CHECK(sparsity_label(0.555) == "55.5%");
  CHECK(median({3.0, 1.0, 2.0}) == 2.0);
  CHECK(median({4.0, 1.0, 3.0, 2.0}) == 3.0);
  CHECK(std::isnan(median({})));
}
