// bench_spmm: median time of spinfer's CUDA SpMM against dense cuBLAS, cuSPARSE CSR SpMM
// and cuSPARSELt 2:4 (when built with it), all measured in the same run, with the
// speedup over cuBLAS and the bandwidth reached on the bytes that must move
// (values + bitmaps + offsets + X + Y) as a fraction of the copy bandwidth measured here.
//
// Inputs are rotated among enough copies that L2 never holds them; each timing is the
// median of several replays of a CUDA graph of many calls (events around each replay).
//
//   bench_spmm [--csv FILE] [--quick] [--max-n N] [--ns N1,N2,...] [--dtype f16|bf16|both]
//              [--no-cusparse] [--kernel K] [--tile-n T] [--split-k S]
//   bench_spmm --case M K N SPARSITY [--tile-n T] [--split-k S] [--kernel K]   (spinfer only, for profilers)
//
// In the sweep, --kernel / --tile-n / --split-k add a column "forced": that configuration
// timed next to every SMBD kernel, the dense path and cuBLAS in the same run, e.g. the
// wgmma kernel's wide token tiles at prefill sizes:
//   bench_spmm --quick --ns 128,512,2048 --dtype f16 --no-cusparse --kernel wgmma --tile-n 128
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "baselines.hpp"
#include "bench_data.hpp"
#include "common/error.hpp"
#include "cuda/cuda_backend.hpp"
#include "cuda/device_context.hpp"
#include "cuda/spmm_dispatch.hpp"

namespace sc = spinfer::cuda;

namespace {

void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "CUDA error in %s: %s\n", what, cudaGetErrorString(e));
    std::exit(2);
  }
}

struct Buffer {
  void* p = nullptr;
  explicit Buffer(size_t bytes) { cuda_check(cudaMalloc(&p, bytes ? bytes : 16), "cudaMalloc"); }
  ~Buffer() { cudaFree(p); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  uint16_t* u16() const { return static_cast<uint16_t*>(p); }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? NAN : v[v.size() / 2];
}

// Median milliseconds of one call of `op(instance)`, rotating over `instances`.
double time_op(const std::function<void(int)>& op, int instances, cudaStream_t s) {
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  // Warm-up over every instance (first-use costs, lazy loading) for at least 20 ms, so
  // the clocks have settled, then a rough estimate.
  {
    const auto t0 = std::chrono::steady_clock::now();
    do {
      for (int i = 0; i < instances; ++i) op(i);
      cuda_check(cudaStreamSynchronize(s), "warm-up");
    } while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(20));
  }
  cudaEventRecord(e0, s);
  for (int i = 0; i < instances; ++i) op(i);
  cudaEventRecord(e1, s);
  cuda_check(cudaEventSynchronize(e1), "estimate");
  float est_ms = 0;
  cudaEventElapsedTime(&est_ms, e0, e1);
  const double one = std::max(1e-4, double(est_ms) / instances);
  int per_graph = int(std::clamp(2.0 / one, double(instances), 400.0));
  per_graph = (per_graph + instances - 1) / instances * instances;
  const int reps = int(std::clamp(60.0 / (one * per_graph), 3.0, 15.0));

  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  bool use_graph = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess;
  if (use_graph) {
    for (int j = 0; j < per_graph; ++j) op(j % instances);
    use_graph = cudaStreamEndCapture(s, &graph) == cudaSuccess &&
                cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
    if (!use_graph) cudaGetLastError();
  }
  std::vector<double> t;
  for (int r = 0; r < reps + 1; ++r) {
    cudaEventRecord(e0, s);
    if (use_graph)
      cudaGraphLaunch(exec, s);
    else
      for (int j = 0; j < per_graph; ++j) op(j % instances);
    cudaEventRecord(e1, s);
    cuda_check(cudaEventSynchronize(e1), "timed run");
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    if (r > 0) t.push_back(double(ms) / per_graph);  // first replay is a warm-up
  }
  if (exec) cudaGraphExecDestroy(exec);
  if (graph) cudaGraphDestroy(graph);
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return median(t);
}

int rotation(double bytes_per_instance, double l2_bytes, int cap) {
  return int(std::clamp(std::ceil(3.0 * l2_bytes / std::max(bytes_per_instance, 1.0)), 1.0, double(cap)));
}

struct Row {
  const char* dtype;
  int64_t m, k, n;
  double sparsity;
  double t_spinfer = NAN, t_cublas = NAN, t_cusparse = NAN, t_cusparselt = NAN;  // microseconds
  double t_block = NAN, t_specialised = NAN, t_wgmma = NAN, t_warp_k = NAN;  // each SMBD kernel; t_spinfer: the dispatcher's
  double t_dense = NAN;  // the dense path (decode + cuBLAS), N >= 128
  double t_forced = NAN;  // --kernel / --tile-n / --split-k, when given
  double bytes = 0;  // bytes that must move for spinfer
  int split_k = 1, tile_n = 8;
  bool lt_padded = false;  // cuSPARSELt ran with N rounded up to 16
};

const char* kernel_name(sc::SpmmKernel k) {
  return k == sc::SpmmKernel::specialised ? "specialised"
         : k == sc::SpmmKernel::wgmma     ? "wgmma"
         : k == sc::SpmmKernel::warp_k    ? "warp_k"
         : k == sc::SpmmKernel::dense_gemm ? "dense_gemm"
                                          : "block";
}

double geomean(const std::vector<double>& v) {
  if (v.empty()) return NAN;
  double s = 0;
  for (double x : v) s += std::log(x);
  return std::exp(s / double(v.size()));
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // keep the table if the run is cut short
  std::string csv_path = "spmm.csv";
  bool quick = false, with_cusparse = true;
  int64_t max_n = 0;  // > 0: only token counts up to this
  std::vector<int64_t> only_ns;  // --ns: these token counts instead of the set's
  int64_t case_m = 0, case_k = 0, case_n = 0;
  double case_sp = 0;
  sc::SpmmOptions case_opt;
  std::vector<bool> dtypes = {false, true};  // bf16?
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--csv" && i + 1 < argc) csv_path = argv[++i];
    else if (a == "--quick") quick = true;
    else if (a == "--max-n" && i + 1 < argc) max_n = std::atoll(argv[++i]);
    else if (a == "--ns" && i + 1 < argc) {
      for (const char* p = argv[++i]; *p;) {
        char* end = nullptr;
        const long long v = std::strtoll(p, &end, 10);
        if (end == p || v <= 0) break;
        only_ns.push_back(v);
        p = *end == ',' ? end + 1 : end;
      }
    }
    else if (a == "--no-cusparse") with_cusparse = false;
    else if (a == "--case" && i + 4 < argc) {
      // One spinfer configuration only (for profilers): --case M K N SPARSITY
      case_m = std::atoll(argv[++i]);
      case_k = std::atoll(argv[++i]);
      case_n = std::atoll(argv[++i]);
      case_sp = std::atof(argv[++i]);
    } else if (a == "--tile-n" && i + 1 < argc) {
      case_opt.tile_n = std::atoi(argv[++i]);
    } else if (a == "--split-k" && i + 1 < argc) {
      case_opt.split_k = std::atoi(argv[++i]);
    } else if (a == "--kernel" && i + 1 < argc) {
      const std::string kname = argv[++i];
      case_opt.kernel = kname == "block"         ? sc::SpmmKernel::block
                        : kname == "specialised" ? sc::SpmmKernel::specialised
                        : kname == "wgmma"       ? sc::SpmmKernel::wgmma
                        : kname == "warp_k"      ? sc::SpmmKernel::warp_k
                        : kname == "dense_gemm"  ? sc::SpmmKernel::dense_gemm
                                                 : sc::SpmmKernel::automatic;
    }
    else if (a == "--dtype" && i + 1 < argc) {
      const std::string d = argv[++i];
      dtypes = d == "f16" ? std::vector<bool>{false} : d == "bf16" ? std::vector<bool>{true}
                                                                   : std::vector<bool>{false, true};
    } else {
      std::fprintf(stderr,
                   "usage: bench_spmm [--csv FILE] [--quick] [--max-n N] [--ns N1,N2,...] [--dtype f16|bf16|both] [--no-cusparse]\n"
                   "                  [--kernel K] [--tile-n T] [--split-k S]\n"
                   "       bench_spmm --case M K N SPARSITY [--tile-n T] [--split-k S] [--kernel K]\n"
                   "  K: block|specialised|wgmma|warp_k|dense_gemm; T: 8|16|32|64, or 128|256 (wgmma only).\n"
                   "  In the sweep, --kernel/--tile-n/--split-k time that configuration as an extra column\n"
                   "  'forced' (fc_x: cuBLAS time / its time) beside every kernel, the dense path and cuBLAS,\n"
                   "  e.g. the wide wgmma tiles at prefill sizes:\n"
                   "    bench_spmm --quick --ns 128,512,2048 --dtype f16 --no-cusparse --kernel wgmma --tile-n 128\n");
      return 1;
    }
  }

  cudaDeviceProp prop{};
  cuda_check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  cudaStream_t s;
  cuda_check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  const double l2 = double(prop.l2CacheSize);

  // Copy bandwidth of this device in this run (bytes read + written): the faster of
  // cudaMemcpyAsync and a plain 16-byte-per-thread copy kernel.
  double copy_gbs = 0, memcpy_gbs = 0, kernel_gbs = 0;
  {
    const size_t bytes = size_t(1) << 30;
    Buffer a(bytes), b(bytes);
    cudaMemsetAsync(a.p, 1, bytes, s);
    const double ms = time_op([&](int) { cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice, s); }, 1, s);
    memcpy_gbs = 2.0 * double(bytes) / (ms * 1e-3) / 1e9;
    const double ms2 = time_op([&](int) { bench_copy(b.p, a.p, bytes, s); }, 1, s);
    kernel_gbs = 2.0 * double(bytes) / (ms2 * 1e-3) / 1e9;
    copy_gbs = std::max(memcpy_gbs, kernel_gbs);
  }
  std::printf("device: %s, %d SMs, L2 %.0f MB; copy bandwidth (read+write) %.0f GB/s "
              "(cudaMemcpy %.0f, copy kernel %.0f); cuSPARSELt: %s\n",
              prop.name, prop.multiProcessorCount, l2 / 1e6, copy_gbs, memcpy_gbs, kernel_gbs,
              CusparseLt::available() ? "yes" : "no");

  auto ctx = sc::create_context(0);
  if (case_m > 0) {
    const bool bf16 = !dtypes[0] ? false : true;
    const spinfer::DType dt = bf16 ? spinfer::DType::bf16 : spinfer::DType::f16;
    const size_t wn = size_t(case_m) * size_t(case_k);
    Buffer wd(wn * 2), x(size_t(case_n) * case_k * 2), y(size_t(case_n) * case_m * 2);
    bench_fill_random(wd.u16(), int64_t(wn), case_sp, 4242, bf16, s);
    bench_fill_random(x.u16(), case_n * case_k, 0.0, 99, bf16, s);
    auto w = sc::encode_device(*ctx, wd.p, dt, case_m, case_k, case_k, dt, s);
    const sc::SpmmOptions opt = case_opt;
    const double ms = time_op([&](int) {
      sc::spmm(*ctx, *w, x.p, case_n, case_k, nullptr, y.p, case_m, dt, opt, s);
    }, 1, s);
    // The configuration that ran: the override, or what the dispatcher chose.
    const sc::SpmmCallPlan plan = sc::plan_spmm_call(*ctx, *w, case_n, dt, opt, s);
    std::printf("case %ldx%ldx%ld sparsity %.2f kernel %s tile_n %d split_k %d: %.2f us (L2 warm)\n",
                long(case_m), long(case_k), long(case_n), case_sp, kernel_name(plan.kernel), plan.tile_n,
                plan.split_k, ms * 1e3);
    return 0;
  }
  CublasDense blas(s);
  // --kernel / --tile-n / --split-k in the sweep: one more configuration, timed in the same run.
  const bool forced = case_opt.kernel != sc::SpmmKernel::automatic || case_opt.tile_n > 0 ||
                      case_opt.split_k > 0;
  std::string forced_name = "none";
  if (forced) {
    forced_name =
        std::string(case_opt.kernel == sc::SpmmKernel::automatic ? "auto" : kernel_name(case_opt.kernel)) +
        " tile_n " + (case_opt.tile_n ? std::to_string(case_opt.tile_n) : std::string("auto")) +
        " split_k " + (case_opt.split_k ? std::to_string(case_opt.split_k) : std::string("auto"));
    std::printf("forced: %s\n", forced_name.c_str());
  }

  std::vector<std::pair<int64_t, int64_t>> shapes = {{4096, 4096},  {11008, 4096}, {4096, 11008},
                                                     {14336, 4096}, {4096, 14336}, {28672, 8192},
                                                     {8192, 28672}};
  std::vector<int64_t> ns = {1, 8, 16, 32, 64, 128, 256, 512, 1024};
  std::vector<double> sparsities = {0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  if (quick) {
    shapes = {{4096, 4096}, {4096, 11008}, {28672, 8192}};
    ns = {1, 8, 16, 64, 256};
    sparsities = {0.3, 0.5, 0.7, 0.9};
  }
  if (!only_ns.empty()) ns = only_ns;
  if (max_n > 0) ns.erase(std::remove_if(ns.begin(), ns.end(), [&](int64_t v) { return v > max_n; }), ns.end());

  std::vector<Row> rows;
  std::printf("\n%-5s %6s %6s %5s %5s | %9s %9s %9s %9s %9s %9s %9s %9s | %7s %7s %7s %7s %7s %7s %7s %7s | %7s %6s | %s\n",
              "dtype", "M", "K", "N", "sp%", "block", "special", "wgmma", "warp_k", "forced", "cuBLAS", "cuSPARSE",
              "cuSPLt", "x_cuBLAS", "blk_x", "spc_x", "wg_x", "wk_x", "dn_x", "fc_x", "x_2:4", "GB/s", "%copy",
              "split/tile");
  for (bool bf16 : dtypes) {
    const char* dname = bf16 ? "bf16" : "f16";
    const spinfer::DType dt = bf16 ? spinfer::DType::bf16 : spinfer::DType::f16;
    for (auto [m, k] : shapes) {
      const size_t wn = size_t(m) * size_t(k);
      std::map<int64_t, double> t_blas, t_lt;
      std::map<int64_t, bool> lt_padded;
      {
        // Dense baselines on fully dense random weights (never time on zeros).
        const int rd = rotation(double(wn) * 2, l2, 8);
        std::vector<std::unique_ptr<Buffer>> dense;
        for (int i = 0; i < rd; ++i) {
          dense.emplace_back(new Buffer(wn * 2));
          bench_fill_random(dense.back()->u16(), int64_t(wn), 0.0, 1000 + i, bf16, s);
        }
        for (int64_t n : ns) {
          Buffer x(size_t(rd) * n * k * 2), y(size_t(rd) * n * m * 2);
          bench_fill_random(x.u16(), int64_t(rd) * n * k, 0.0, 77, bf16, s);
          t_blas[n] = 1e3 * time_op([&](int i) {
            blas.run(dense[size_t(i)]->p, m, k, x.u16() + size_t(i) * n * k, n,
                     y.u16() + size_t(i) * n * m, bf16);
          }, rd, s);
          if (CusparseLt::available()) {
            const int rl = rotation(double(wn), l2, 8);
            // cuSPARSELt needs N to be a multiple of 16 here: smaller N run padded to 16
            // (what a caller would have to do), and the CSV says so.
            const int64_t nl = std::max<int64_t>(16, (n + 15) / 16 * 16);
            Buffer xl(size_t(rl) * nl * k * 2), yl(size_t(rl) * nl * m * 2);
            bench_fill_random(xl.u16(), int64_t(rl) * nl * k, 0.0, 78, bf16, s);
            CusparseLt lt(dense[0]->p, m, k, nl, bf16, rl, s);
            if (lt.ok()) {
              t_lt[n] = 1e3 * time_op([&](int i) {
                lt.run(i, xl.u16() + size_t(i) * nl * k, yl.u16() + size_t(i) * nl * m);
              }, rl, s);
              lt_padded[n] = nl != n;
            } else {
              static int warned = 0;
              if (warned++ < 3)
                std::printf("cuSPARSELt failed for %ldx%ldx%ld: %s\n", long(m), long(k), long(nl),
                            lt.error().c_str());
            }
          }
        }
      }
      for (double sp : sparsities) {
        Buffer wd(wn * 2);
        bench_fill_random(wd.u16(), int64_t(wn), sp, 4242 + uint64_t(sp * 100), bf16, s);
        cuda_check(cudaStreamSynchronize(s), "fill");
        auto first = sc::encode_device(*ctx, wd.p, dt, m, k, k, dt, s);
        const auto sum = sc::summary(*first);
        const double wbytes = double(sum.values_count) * 2 + double(sum.bitmaps_count) * 8 +
                              double(sum.offsets_count) * 8;
        const int rs = rotation(wbytes, l2, 32);
        std::vector<sc::DeviceMatrixPtr> inst;
        inst.push_back(std::move(first));
        for (int i = 1; i < rs; ++i) inst.push_back(sc::encode_device(*ctx, wd.p, dt, m, k, k, dt, s));
        std::vector<std::unique_ptr<CusparseCsr>> csr;
        int rc = 1;
        if (with_cusparse && !bf16) {
          csr.emplace_back(new CusparseCsr(wd.p, m, k, bf16, s));
          rc = rotation(double(csr[0]->bytes()), l2, 4);
          for (int i = 1; i < rc; ++i) csr.emplace_back(new CusparseCsr(wd.p, m, k, bf16, s));
        }
        for (int64_t n : ns) {
          Row r{dname, m, k, n, sp};
          Buffer x(size_t(rs) * n * k * 2), y(size_t(rs) * n * m * 2);
          bench_fill_random(x.u16(), int64_t(rs) * n * k, 0.0, 99, bf16, s);
          // Every kernel the device runs, in the same run; spinfer = the dispatcher's pick.
          const auto time_options = [&](const sc::SpmmOptions& o) {
            return 1e3 * time_op([&](int i) {
              sc::spmm(*ctx, *inst[size_t(i)], x.u16() + size_t(i) * n * k, n, k, nullptr,
                       y.u16() + size_t(i) * n * m, m, dt, o, s);
            }, rs, s);
          };
          const auto time_kernel = [&](sc::SpmmKernel kernel) {
            sc::SpmmOptions o;
            o.kernel = kernel;
            return time_options(o);
          };
          const sc::SpmmOptions opt;
          const sc::SpmmKernel kernel = sc::plan_spmm_call(*ctx, *inst[0], n, dt, opt, s).kernel;
          r.t_block = time_kernel(sc::SpmmKernel::block);
          if (ctx->has_specialised_spmm()) r.t_specialised = time_kernel(sc::SpmmKernel::specialised);
          if (ctx->has_wgmma_spmm()) r.t_wgmma = time_kernel(sc::SpmmKernel::wgmma);
          if (ctx->has_kernel(sc::SpmmKernel::warp_k) &&
              sc::kernel_serves(sc::SpmmKernel::warp_k, sc::choose_tile_n(n, opt)))
            r.t_warp_k = time_kernel(sc::SpmmKernel::warp_k);
          if (ctx->has_kernel(sc::SpmmKernel::dense_gemm) && n >= 128)
            r.t_dense = time_kernel(sc::SpmmKernel::dense_gemm);
          if (forced) {
            try {
              (void)sc::plan_spmm_call(*ctx, *inst[0], n, dt, case_opt, s);  // the entry's checks
              r.t_forced = time_options(case_opt);
            } catch (const spinfer::Error& e) {
              static int warned = 0;
              if (warned++ < 3) std::printf("forced configuration not run at N = %ld: %s\n", long(n), e.what());
            }
          }
          r.t_spinfer = kernel == sc::SpmmKernel::specialised ? r.t_specialised
                        : kernel == sc::SpmmKernel::wgmma     ? r.t_wgmma
                        : kernel == sc::SpmmKernel::warp_k    ? r.t_warp_k
                        : kernel == sc::SpmmKernel::dense_gemm ? r.t_dense
                                                              : r.t_block;
          r.bytes = wbytes + double(n) * k * 2 + double(n) * m * 2;
          r.tile_n = sc::choose_tile_n(n, opt);
          const auto plan = sc::plan_spmm_split((m + 63) / 64, (k + 63) / 64, n, r.tile_n,
                                                ctx->sm_count(), ctx->blocks_per_sm(kernel, r.tile_n), opt);
          r.split_k = int(plan.grid.split_k);
          if (!csr.empty() && n <= 8) {  // beyond N = 8 a call takes 10 ms to seconds here
            Buffer xc(size_t(rc) * n * k * 2), yc(size_t(rc) * n * m * 2);
            bench_fill_random(xc.u16(), int64_t(rc) * n * k, 0.0, 98, bf16, s);
            r.t_cusparse = 1e3 * time_op([&](int i) {
              csr[size_t(i)]->run(xc.u16() + size_t(i) * n * k, n, yc.u16() + size_t(i) * n * m);
            }, rc, s);
          }
          r.t_cublas = t_blas[n];
          if (t_lt.count(n)) r.t_cusparselt = t_lt[n];
          r.lt_padded = lt_padded[n];
          const double gbs = r.bytes / (r.t_spinfer * 1e-6) / 1e9;
          std::printf("%-5s %6ld %6ld %5ld %5.0f | %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f | %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f | %7.0f %5.1f%% | %d/%d\n",
                      dname, long(m), long(k), long(n), sp * 100, r.t_block, r.t_specialised, r.t_wgmma,
                      r.t_warp_k, r.t_forced, r.t_cublas, r.t_cusparse, r.t_cusparselt, r.t_cublas / r.t_spinfer,
                      r.t_cublas / r.t_block, r.t_cublas / r.t_specialised, r.t_cublas / r.t_wgmma,
                      r.t_cublas / r.t_warp_k, r.t_cublas / r.t_dense, r.t_cublas / r.t_forced,
                      r.t_cusparselt / r.t_spinfer, gbs, 100 * gbs / copy_gbs,
                      r.split_k, r.tile_n);
          std::fflush(stdout);
          rows.push_back(r);
        }
      }
    }
  }

  // ---- CSV ----
  if (FILE* f = std::fopen(csv_path.c_str(), "w")) {
    std::fprintf(f, "dtype,M,K,N,sparsity,spinfer_us,cublas_us,cusparse_us,cusparselt_us,"
                    "speedup_vs_cublas,bytes_moved,spinfer_GBps,fraction_of_copy_bw,split_k,tile_n,copy_GBps,"
                    "cusparselt_n_padded,block_kernel_us,specialised_kernel_us,wgmma_kernel_us,warp_k_kernel_us,dense_path_us,"
                    "forced_us,forced_config\n");
    for (const Row& r : rows) {
      const double gbs = r.bytes / (r.t_spinfer * 1e-6) / 1e9;
      std::fprintf(f, "%s,%ld,%ld,%ld,%.2f,%.3f,%.3f,%.3f,%.3f,%.4f,%.0f,%.1f,%.4f,%d,%d,%.1f,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%s\n", r.dtype,
                   long(r.m), long(r.k), long(r.n), r.sparsity, r.t_spinfer, r.t_cublas, r.t_cusparse,
                   r.t_cusparselt, r.t_cublas / r.t_spinfer, r.bytes, gbs, gbs / copy_gbs, r.split_k,
                   r.tile_n, copy_gbs, int(r.lt_padded), r.t_block, r.t_specialised, r.t_wgmma,
                   r.t_warp_k, r.t_dense, r.t_forced, forced_name.c_str());
    }
    std::fclose(f);
  }

  // ---- summary against the targets (N <= 64) ----
  std::printf("\nSummary (N <= 64; copy bandwidth %.0f GB/s)\n", copy_gbs);
  std::printf("%-5s %5s | %8s %8s %6s | %8s %8s (BW fraction, M*K >= 4096*11008) | %8s %8s %8s (geomeans) | %8s %8s (N <= 16)\n",
              "dtype", "sp%", "geomean", "min", "<1.0x", "min", "median", "block", "special", "wgmma",
              "block", "warp_k");
  for (const char* d : {"f16", "bf16"}) {
    for (double sp : sparsities) {
      std::vector<double> sp_up, frac, block_up, spec_up, wgmma_up, block16_up, warp_k_up;
      int below = 0;
      for (const Row& r : rows) {
        if (std::strcmp(r.dtype, d) || r.n > 64 || std::fabs(r.sparsity - sp) > 1e-9) continue;
        const double x = r.t_cublas / r.t_spinfer;
        sp_up.push_back(x);
        block_up.push_back(r.t_cublas / r.t_block);
        if (!std::isnan(r.t_specialised)) spec_up.push_back(r.t_cublas / r.t_specialised);
        if (!std::isnan(r.t_wgmma)) wgmma_up.push_back(r.t_cublas / r.t_wgmma);
        if (!std::isnan(r.t_warp_k)) {  // the rows both ran
          warp_k_up.push_back(r.t_cublas / r.t_warp_k);
          block16_up.push_back(r.t_cublas / r.t_block);
        }
        below += x < 1.0;
        if (r.m * r.k >= int64_t(4096) * 11008)
          frac.push_back(r.bytes / (r.t_spinfer * 1e-6) / 1e9 / copy_gbs);
      }
      if (sp_up.empty()) continue;
      std::printf("%-5s %5.0f | %7.2fx %7.2fx %6d | %7.1f%% %7.1f%% | %7.2fx %7.2fx %7.2fx | %7.2fx %7.2fx\n", d, sp * 100,
                  geomean(sp_up), *std::min_element(sp_up.begin(), sp_up.end()), below,
                  frac.empty() ? NAN : 100 * *std::min_element(frac.begin(), frac.end()),
                  100 * median(frac), geomean(block_up), geomean(spec_up), geomean(wgmma_up),
                  geomean(block16_up), geomean(warp_k_up));
    }
  }
  // N = 1 against N = 8, and bf16 against fp16.
  std::vector<double> n1_over_n8, bf_over_f;
  for (const Row& a : rows) {
    if (a.n != 1) continue;
    for (const Row& b : rows)
      if (b.n == 8 && b.m == a.m && b.k == a.k && b.sparsity == a.sparsity && !std::strcmp(a.dtype, b.dtype))
        n1_over_n8.push_back(a.t_spinfer / b.t_spinfer);
  }
  for (const Row& a : rows) {
    if (std::strcmp(a.dtype, "bf16") || a.n > 64) continue;
    for (const Row& b : rows)
      if (!std::strcmp(b.dtype, "f16") && b.n == a.n && b.m == a.m && b.k == a.k && b.sparsity == a.sparsity)
        bf_over_f.push_back(a.t_spinfer / b.t_spinfer);
  }
  // Prefill (N >= 128): the dispatcher, the dense path and the best SMBD kernel, over cuBLAS.
  for (const char* d : {"f16", "bf16"}) {
    std::vector<double> pick, dense, wgmma, forced_up;
    for (const Row& r : rows) {
      if (std::strcmp(r.dtype, d) || r.n < 128) continue;
      pick.push_back(r.t_cublas / r.t_spinfer);
      if (!std::isnan(r.t_dense)) dense.push_back(r.t_cublas / r.t_dense);
      if (!std::isnan(r.t_wgmma)) wgmma.push_back(r.t_cublas / r.t_wgmma);
      if (!std::isnan(r.t_forced)) forced_up.push_back(r.t_cublas / r.t_forced);
    }
    if (!pick.empty())
      std::printf("%s N >= 128: dispatcher geomean %.2fx (min %.2fx), dense path %.2fx, wgmma (tile 64) %.2fx, "
                  "forced (%s) %.2fx\n", d, geomean(pick), *std::min_element(pick.begin(), pick.end()),
                  geomean(dense), geomean(wgmma), forced_name.c_str(), geomean(forced_up));
    // Per N: the forced configuration against the dense path (the automatic choice from
    // kDenseGemmMinTokens), both over cuBLAS.
    if (forced) {
      std::map<int64_t, std::pair<std::vector<double>, std::vector<double>>> by_n;
      for (const Row& r : rows)
        if (!std::strcmp(r.dtype, d) && !std::isnan(r.t_forced)) {
          by_n[r.n].first.push_back(r.t_cublas / r.t_forced);
          if (!std::isnan(r.t_dense)) by_n[r.n].second.push_back(r.t_cublas / r.t_dense);
        }
      for (const auto& [n, v] : by_n)
        std::printf("%s N = %ld: forced geomean %.2fx cuBLAS, dense path %.2fx\n", d, long(n),
                    geomean(v.first), geomean(v.second));
    }
  }
  if (!n1_over_n8.empty())
    std::printf("time(N=1)/time(N=8): geomean %.3f, max %.3f\n", geomean(n1_over_n8),
                *std::max_element(n1_over_n8.begin(), n1_over_n8.end()));
  if (!bf_over_f.empty())
    std::printf("time(bf16)/time(fp16), N<=64: geomean %.3f, max %.3f\n", geomean(bf_over_f),
                *std::max_element(bf_over_f.begin(), bf_over_f.end()));
  std::printf("CSV written to %s\n", csv_path.c_str());
  return 0;
}
