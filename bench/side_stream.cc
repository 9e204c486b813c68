// Times CompressSideStream (the control and extra streams' coding) on one
// file as the extra stream of a method 11 patch, on 1 and 2 threads, and
// prints the coded size: where a huge pair's last seconds go.
// Usage: bazel run //bench:side_stream -- FILE
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "common/file.h"
#include "core/delta/diff.h"

namespace patchfarm {
namespace {

int Run(const std::string& path) {
  absl::StatusOr<std::unique_ptr<MappedFile>> file = MappedFile::Open(path);
  if (!file.ok()) {
    std::fprintf(stderr, "%s\n", file.status().ToString().c_str());
    return 1;
  }
  for (int threads : {1, 2}) {
    DiffOptions options;
    options.threads = threads;
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::string> coded =
        CompressSideStream((*file)->data(), PatchMethod::kSizedLzmaSparseModeledStreams, options);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!coded.ok()) {
      std::fprintf(stderr, "%s\n", coded.status().ToString().c_str());
      return 1;
    }
    std::printf("%d thread(s): %zu -> %zu bytes in %.3f s\n", threads, (*file)->data().size(),
                coded->size(), s);
  }
  return 0;
}

}  // namespace
}  // namespace patchfarm

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: side_stream FILE\n");
    return 2;
  }
  return patchfarm::Run(argv[1]);
}
