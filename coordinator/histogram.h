// A Prometheus histogram's state: how many observations fell at or below
// each upper bound, their count and their sum. Counts only grow, as
// Prometheus expects of a histogram (a job dropped later by retention stays
// counted). Thread-compatible.
#ifndef PATCHFARM_COORDINATOR_HISTOGRAM_H_
#define PATCHFARM_COORDINATOR_HISTOGRAM_H_

#include <cstdint>
#include <utility>
#include <vector>

namespace patchfarm {

struct Histogram {
  Histogram() = default;
  explicit Histogram(std::vector<double> upper_bounds)
      : bounds(std::move(upper_bounds)), counts(bounds.size(), 0) {}

  void Observe(double value) {
    for (size_t i = 0; i < bounds.size(); ++i) counts[i] += value <= bounds[i] ? 1 : 0;
    ++count;
    sum += value;
  }

  std::vector<double> bounds;    // Increasing.
  std::vector<uint64_t> counts;  // Per bound: observations <= it.
  uint64_t count = 0;
  double sum = 0;
};

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_HISTOGRAM_H_
