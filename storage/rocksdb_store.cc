#include "storage/rocksdb_store.h"

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"

namespace patchfarm {
namespace {

absl::Status FromRocksDb(const rocksdb::Status& s, absl::string_view context) {
  if (s.ok()) return absl::OkStatus();
  std::string message = absl::StrCat(context, ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(message);
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return absl::UnavailableError(message);
  }
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(message);
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

rocksdb::Slice ToSlice(absl::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDbStore>> RocksDbStore::Open(const std::string& path,
                                                                Options store_options) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_open_files = 256;
  if (!store_options.compress) options.compression = rocksdb::kNoCompression;
  if (store_options.write_buffer_bytes != 0) {
    options.write_buffer_size = store_options.write_buffer_bytes;
  }
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &db);
  if (!s.ok()) return FromRocksDb(s, absl::StrCat("open ", path));
  return std::unique_ptr<RocksDbStore>(new RocksDbStore(db));
}

RocksDbStore::RocksDbStore(rocksdb::DB* db) : db_(db) {}
RocksDbStore::~RocksDbStore() = default;

absl::StatusOr<std::optional<std::string>> RocksDbStore::Get(absl::string_view key) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocksDb(s, "get");
  return std::optional<std::string>(std::move(value));
}

absl::Status RocksDbStore::Write(const std::vector<StoreWrite>& writes, bool sync) {
  rocksdb::WriteBatch batch;
  for (const StoreWrite& w : writes) {
    if (w.value) {
      batch.Put(ToSlice(w.key), ToSlice(*w.value));
    } else {
      batch.Delete(ToSlice(w.key));
    }
  }
  rocksdb::WriteOptions options;
  options.sync = sync;
  return FromRocksDb(db_->Write(options, &batch), "write");
}

absl::Status RocksDbStore::Scan(
    absl::string_view prefix,
    const std::function<bool(absl::string_view, absl::string_view)>& visit) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(ToSlice(prefix)); it->Valid() && it->key().starts_with(ToSlice(prefix));
       it->Next()) {
    if (!visit(absl::string_view(it->key().data(), it->key().size()),
               absl::string_view(it->value().data(), it->value().size()))) {
      break;
    }
  }
  return FromRocksDb(it->status(), "scan");
}

}  // namespace patchfarm
