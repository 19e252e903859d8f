// The statistic every timing of bench_layers reports.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace bench {

// The median (the upper one of an even count); NaN for no samples.
inline double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace bench
