// The worker's suffix-array cache: for each (OLD, NEW) pair, the engine step
// of a farm job with a cold cache (sort the old file, save the index to
// RocksDB) and again with the index cached (load it), checking the patches
// are identical. An uncached run first warms the page cache for both. Prints per-pair seconds and the median speedup.
// Usage: bazel run //bench:index_cache -- OLD NEW [OLD NEW ...]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/directory.h"
#include "common/file.h"
#include "core/delta/diff.h"
#include "storage/rocksdb_store.h"
#include "worker/index_store.h"

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc % 2 == 0) {
    std::fprintf(stderr, "usage: index_cache OLD NEW [OLD NEW ...]\n");
    return 2;
  }
  std::vector<double> ratios;
  std::printf("| pair | cold s | indexed s | speedup |\n|---|---|---|---|\n");
  for (int i = 1; i + 1 < argc; i += 2) {
    char dir[] = "/tmp/pf-index-bench-XXXXXX";
    if (mkdtemp(dir) == nullptr) return 1;
    auto db = patchfarm::RocksDbStore::Open(std::string(dir) + "/index",
                                             patchfarm::RocksDbStore::Options{/*compress=*/false});
    auto old_file = patchfarm::MappedFile::Open(argv[i]);
    auto new_file = patchfarm::MappedFile::Open(argv[i + 1]);
    if (!db.ok() || !old_file.ok() || !new_file.ok()) {
      std::fprintf(stderr, "cannot open inputs\n");
      return 1;
    }
    auto store = patchfarm::StoreIndexStore::Open(db->get(), uint64_t{1} << 30, uint64_t{4} << 30);
    if (!store.ok()) return 1;
    patchfarm::DiffOptions options;
    // A first run without the cache warms the page cache and the allocator for both.
    if (!patchfarm::Diff((*old_file)->data(), (*new_file)->data(), options).ok()) return 1;
    options.index_store = store->get();
    double t0 = Now();
    auto cold = patchfarm::Diff((*old_file)->data(), (*new_file)->data(), options);
    double t1 = Now();
    auto warm = patchfarm::Diff((*old_file)->data(), (*new_file)->data(), options);
    double t2 = Now();
    if (!cold.ok() || !warm.ok() || *cold != *warm || (*store)->hits() != 1) {
      std::fprintf(stderr, "%s: patches differ or the index was not used\n", argv[i]);
      return 1;
    }
    ratios.push_back((t1 - t0) / (t2 - t1));
    std::printf("| %s -> %s | %.2f | %.2f | %.2f |\n", argv[i], argv[i + 1], t1 - t0, t2 - t1,
                ratios.back());
    db->reset();
    patchfarm::RemoveTree(dir).IgnoreError();
  }
  std::sort(ratios.begin(), ratios.end());
  std::printf("\nmedian speedup with the old side indexed: %.2f x (%zu pairs)\n",
              ratios[ratios.size() / 2], ratios.size());
  return 0;
}
