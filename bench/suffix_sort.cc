// Times ParallelSuffixSort on one file (of less than 2 GiB) with 1 and 2
// threads, best of `runs`, and checks that both give the same array.
// Usage: bazel run //bench:suffix_sort -- FILE [RUNS]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/file.h"
#include "core/delta/parallel_suffix_sort.h"

namespace patchfarm {
namespace {

int Run(const std::string& path, int runs) {
  absl::StatusOr<std::unique_ptr<MappedFile>> file = MappedFile::Open(path);
  if (!file.ok()) {
    std::fprintf(stderr, "%s\n", file.status().ToString().c_str());
    return 1;
  }
  absl::string_view text = (*file)->data();
  if (text.size() >= static_cast<uint64_t>(INT32_MAX)) {
    std::fprintf(stderr, "the sort takes files below 2 GiB\n");
    return 1;
  }
  std::vector<int32_t> sa[2] = {std::vector<int32_t>(text.size()),
                                std::vector<int32_t>(text.size())};
  for (int threads : {1, 2}) {
    double best = 1e9;
    for (int run = 0; run < runs; ++run) {
      const auto start = std::chrono::steady_clock::now();
      absl::Status status = ParallelSuffixSort(text, sa[threads - 1].data(), threads);
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!status.ok()) {
        std::fprintf(stderr, "%s\n", status.ToString().c_str());
        return 1;
      }
      best = std::min(best, s);
    }
    std::printf("%d thread(s): %.3f s (best of %d)\n", threads, best, runs);
  }
  if (sa[0] != sa[1]) {
    std::fprintf(stderr, "the arrays differ\n");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace patchfarm

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: suffix_sort FILE [RUNS]\n");
    return 2;
  }
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  if (runs < 1) {
    std::fprintf(stderr, "RUNS: a number of runs, 1 or more\n");
    return 2;
  }
  return patchfarm::Run(argv[1], runs);
}
