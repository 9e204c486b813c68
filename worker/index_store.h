// The worker's cache of indexes of old files (core/delta/diff.h's IndexStore:
// suffix arrays and chunk indexes) in a Store: RocksDB under the worker's
// cache directory. An old release diffed again (it is the old side of the
// next N releases) is not re-sorted or re-chunked.
//
// Bounded like the blob cache: entries above max_entry_bytes are not kept,
// and once the entries pass max_total_bytes the least recently used go. An
// entry is "lru/<key>" (its size and last use, 16 bytes) and its bytes in
// pieces of kIndexPieceBytes, "part/<key>/<n>" (n in 8 hex digits from 0),
// each written alone, so that saving a suffix array of a GiB copies a few MiB
// at a time (one write of the whole took 1.3 GB more than the diff itself on
// a 65 MB executable). The record is written before the pieces and removed
// after them: a crash or a failed write leaves an entry counted, whose
// missing pieces make its Load a miss (the caller rebuilds it and saves it
// again), never pieces that no record names. The recency survives restarts.
// Thread-safe: Saves and evictions hold a lock; a Load reads its pieces
// without it, and misses if the entry was replaced meanwhile.
#ifndef PATCHFARM_WORKER_INDEX_STORE_H_
#define PATCHFARM_WORKER_INDEX_STORE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "core/delta/diff.h"
#include "storage/store.h"

namespace patchfarm {

inline constexpr uint64_t kIndexPieceBytes = uint64_t{4} << 20;

class StoreIndexStore : public IndexStore {
 public:
  // Reads the entries' sizes and recency from `store` (which must outlive
  // this), removing keys an earlier layout left, and evicts down to
  // max_total_bytes. Errors of the store.
  static absl::StatusOr<std::unique_ptr<StoreIndexStore>> Open(Store* store,
                                                               uint64_t max_entry_bytes,
                                                               uint64_t max_total_bytes);

  std::optional<std::string> Load(const std::string& key) override;
  void Save(const std::string& key, absl::string_view bytes) override;

  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  uint64_t evicted() const { return evicted_; }
  uint64_t bytes() const;  // Of the entries kept.

 private:
  struct Entry {
    uint64_t size = 0;
    uint64_t last_use = 0;
    uint64_t saved = 0;  // When it was saved (or found at Open), on clock_.
  };
  StoreIndexStore(Store* store, uint64_t max_entry_bytes, uint64_t max_total_bytes)
      : store_(store), max_entry_bytes_(max_entry_bytes), max_total_bytes_(max_total_bytes) {}
  // Removes least recently used entries until the total fits. Requires mu_.
  absl::Status EvictLocked();
  // Removes the entry `it` (its pieces, then its record). Requires mu_.
  absl::Status RemoveLocked(std::map<std::string, Entry>::iterator it);

  Store* store_;
  const uint64_t max_entry_bytes_;
  const uint64_t max_total_bytes_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // By key (without "lru/").
  std::atomic<uint64_t> total_{0};        // Written under mu_.
  uint64_t clock_ = 0;  // Last use stamps: one more per use.
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> evicted_{0};
};

}  // namespace patchfarm

#endif  // PATCHFARM_WORKER_INDEX_STORE_H_
