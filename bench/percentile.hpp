// The p-th percentile (0..100, nearest rank) of a sample, or -1 for an empty one.
#pragma once

#include <algorithm>
#include <vector>

inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}
