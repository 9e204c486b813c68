// Store: the ordered key-value state of the coordinator and the worker's index
// cache. RocksDbStore keeps it on disk (storage/rocksdb_store.h, the only
// includer of RocksDB); MemoryStore is for tests. Implementations are
// thread-safe.
#ifndef PATCHFARM_STORAGE_STORE_H_
#define PATCHFARM_STORAGE_STORE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace patchfarm {

struct StoreWrite {
  std::string key;
  std::optional<std::string> value;  // nullopt deletes the key.
};

class Store {
 public:
  virtual ~Store() = default;
  // The value at `key`, or nullopt.
  virtual absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) = 0;
  // Applies `writes` atomically. With `sync` the batch survives power loss
  // when this returns; without, it survives a killed process.
  virtual absl::Status Write(const std::vector<StoreWrite>& writes, bool sync) = 0;
  // Calls `visit` for each key starting with `prefix`, in key order, until it
  // returns false.
  virtual absl::Status Scan(
      absl::string_view prefix,
      const std::function<bool(absl::string_view key, absl::string_view value)>& visit) = 0;
};

}  // namespace patchfarm

#endif  // PATCHFARM_STORAGE_STORE_H_
