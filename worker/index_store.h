// The worker's cache of suffix arrays of old files (core/delta/diff.h's
// IndexStore) in a Store: RocksDB under the worker's cache directory. An old
// release diffed again (it is the old side of the next N releases) is not
// re-sorted. Thread-safe.
#ifndef PATCHFARM_WORKER_INDEX_STORE_H_
#define PATCHFARM_WORKER_INDEX_STORE_H_

#include <atomic>
#include <cstdint>

#include "core/delta/diff.h"
#include "storage/store.h"

namespace patchfarm {

class StoreIndexStore : public IndexStore {
 public:
  // Indexes above `max_bytes` are not kept.
  StoreIndexStore(Store* store, uint64_t max_bytes) : store_(store), max_bytes_(max_bytes) {}
  std::optional<std::string> Load(const Digest& old_digest) override;
  void Save(const Digest& old_digest, const std::string& bytes) override;
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  Store* store_;
  uint64_t max_bytes_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

}  // namespace patchfarm

#endif  // PATCHFARM_WORKER_INDEX_STORE_H_
