// A Store in a RocksDB database on disk. The only file that includes RocksDB;
// FromRocksDb converts its statuses. Thread-safe.
#ifndef PATCHFARM_STORAGE_ROCKSDB_STORE_H_
#define PATCHFARM_STORAGE_ROCKSDB_STORE_H_

#include <memory>
#include <string>

#include "storage/store.h"

namespace rocksdb {
class DB;
}

namespace patchfarm {

class RocksDbStore : public Store {
 public:
  struct Options {
    // Compress data files. Off for large incompressible values (suffix
    // arrays), where it only costs read time.
    bool compress = true;  // Default: true.
    // Bytes of each in-memory write buffer (memtable), of which RocksDB keeps
    // up to two; 0: RocksDB's 64 MiB. A store written in a few large values
    // at a time needs less.
    uint64_t write_buffer_bytes = 0;  // Default: 0.
  };

  // Opens (creating if missing) the database in directory `path`.
  // Unavailable if another process holds it.
  static absl::StatusOr<std::unique_ptr<RocksDbStore>> Open(const std::string& path,
                                                            Options options);
  static absl::StatusOr<std::unique_ptr<RocksDbStore>> Open(const std::string& path) {
    return Open(path, Options());
  }
  ~RocksDbStore() override;

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) override;
  absl::Status Write(const std::vector<StoreWrite>& writes, bool sync) override;
  absl::Status Scan(absl::string_view prefix,
                    const std::function<bool(absl::string_view, absl::string_view)>& visit) override;

 private:
  explicit RocksDbStore(rocksdb::DB* db);
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_STORAGE_ROCKSDB_STORE_H_
