// Pruning and model conversion (spinfer.h §8).
#include <algorithm>
#include <cstring>

#include "convert/convert.hpp"
#include "format/prune.hpp"
#include "guard.hpp"

using spinfer::require;
using spinfer::capi::guard;
using spinfer::capi::require_not_null;

extern "C" {

spinfer_status_t spinfer_prune_magnitude(float* weights, int64_t rows, int64_t cols, int64_t ld, double sparsity,
                                         int per_row, int64_t* zeros) {
  if (zeros) *zeros = 0;
  return guard([&] {
    require_not_null(weights, "weights");
    const int64_t z = spinfer::prune_magnitude(weights, rows, cols, ld, sparsity, per_row != 0);
    if (zeros) *zeros = z;
  });
}

spinfer_status_t spinfer_convert_options_init(spinfer_convert_options_t* options) {
  return guard([&] {
    require_not_null(options, "options");
    *options = spinfer_convert_options_t{};
    options->struct_size = sizeof(spinfer_convert_options_t);
    options->dtype = SPINFER_DTYPE_F16;
    options->shard_size = uint64_t(2) << 30;
    options->verify = 1;
  });
}

spinfer_status_t spinfer_convert_report_init(spinfer_convert_report_t* report) {
  return guard([&] {
    require_not_null(report, "report");
    *report = spinfer_convert_report_t{};
    report->struct_size = sizeof(spinfer_convert_report_t);
  });
}

spinfer_status_t spinfer_convert_model(const char* src_dir, const char* dst_dir,
                                       const spinfer_convert_options_t* options,
                                       spinfer_convert_report_t* report) {
  return guard([&] {
    require_not_null(src_dir, "src_dir");
    require_not_null(dst_dir, "dst_dir");
    spinfer_convert_options_t o;
    spinfer_convert_options_init(&o);
    if (options) {
      require(options->struct_size >= sizeof(spinfer_convert_options_t), SPINFER_STATUS_INVALID_ARGUMENT,
              "options->struct_size is too small; initialise it with spinfer_convert_options_init");
      o = *options;
    }
    if (report)
      require(report->struct_size >= sizeof(size_t), SPINFER_STATUS_INVALID_ARGUMENT,
              "report->struct_size is not set; initialise it with spinfer_convert_report_init");
    require(o.dtype == SPINFER_DTYPE_F16 || o.dtype == SPINFER_DTYPE_BF16, SPINFER_STATUS_UNSUPPORTED_DTYPE,
            [&] { return "options->dtype must be F16 or BF16, got " + std::to_string(int(o.dtype)); });
    spinfer::convert::ConvertOptions c;
    c.sparsity = o.sparsity;
    c.per_row = o.prune_per_row != 0;
    c.dtype = spinfer::DType(o.dtype);
    c.shard_size = o.shard_size;
    c.threads = o.threads;
    c.verify = o.verify != 0;
    if (o.progress) {
      c.progress = [fn = o.progress, user = o.progress_user_data](const spinfer::convert::ConvertProgress& p) {
        spinfer_convert_progress_t out{};
        out.struct_size = sizeof out;
        out.tensors_done = p.tensors_done;
        out.tensors_total = p.tensors_total;
        out.bytes_done = p.bytes_done;
        out.bytes_total = p.bytes_total;
        out.tensor = p.tensor;
        out.note = p.note;
        fn(&out, user);
      };
    }
    const spinfer::convert::ConvertReport r = spinfer::convert::convert_model(src_dir, dst_dir, c);
    if (report) {
      spinfer_convert_report_t full{};
      full.struct_size = sizeof full;
      full.tensors = r.tensors;
      full.matrices = r.matrices;
      full.matrices_dense = r.matrices_dense;
      full.imported = r.imported;
      full.linear_nnz = r.linear_nnz;
      full.linear_elements = r.linear_elements;
      full.bytes_read = r.bytes_read;
      full.bytes_written = r.bytes_written;
      full.shards = r.shards;
      const size_t caller_size = report->struct_size;
      std::memcpy(report, &full, std::min(caller_size, sizeof full));
      report->struct_size = caller_size;
    }
  });
}

}  // extern "C"
