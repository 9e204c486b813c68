#include "worker/index_store.h"

#include <vector>

#include "common/status_macros.h"
#include "core/delta/varint.h"

namespace patchfarm {
namespace {

std::string LruRecord(uint64_t size, uint64_t last_use) {
  std::string record;
  PutFixed64(size, &record);
  PutFixed64(last_use, &record);
  return record;
}

}  // namespace

absl::StatusOr<std::unique_ptr<StoreIndexStore>> StoreIndexStore::Open(Store* store,
                                                                     uint64_t max_entry_bytes,
                                                                     uint64_t max_total_bytes) {
  std::unique_ptr<StoreIndexStore> s(new StoreIndexStore(store, max_entry_bytes, max_total_bytes));
  // Keys of the first layout ("sa/<digest>", never evicted) go.
  std::vector<StoreWrite> stale;
  PF_RETURN_IF_ERROR(store->Scan("sa/", [&](absl::string_view key, absl::string_view) {
    stale.push_back({std::string(key), std::nullopt});
    return true;
  }));
  if (!stale.empty()) PF_RETURN_IF_ERROR(store->Write(stale, /*sync=*/false));
  PF_RETURN_IF_ERROR(store->Scan("lru/", [&](absl::string_view key, absl::string_view value) {
    if (value.size() != 16) return true;  // Not ours: left alone, never counted.
    Entry e{GetFixed64(value.data()), GetFixed64(value.data() + 8)};
    s->entries_[std::string(key.substr(4))] = e;
    s->total_ += e.size;
    if (e.last_use > s->clock_) s->clock_ = e.last_use;
    return true;
  }));
  std::lock_guard<std::mutex> lock(s->mu_);
  PF_RETURN_IF_ERROR(s->EvictLocked());
  return s;
}

std::optional<std::string> StoreIndexStore::Load(const std::string& key) {
  absl::StatusOr<std::optional<std::string>> value = store_->Get("v/" + key);
  if (!value.ok() || !value->has_value()) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    it->second.last_use = ++clock_;
    // A lost stamp only makes the entry look older.
    store_->Write({{"lru/" + key, LruRecord(it->second.size, it->second.last_use)}},
                  /*sync=*/false)
        .IgnoreError();
  }
  return std::move(**value);
}

void StoreIndexStore::Save(const std::string& key, const std::string& bytes) {
  if (bytes.empty() || bytes.size() > max_entry_bytes_ || bytes.size() > max_total_bytes_) return;
  std::lock_guard<std::mutex> lock(mu_);
  Entry e{bytes.size(), ++clock_};
  // A failed write only costs a rebuild next time.
  if (!store_->Write({{"v/" + key, bytes}, {"lru/" + key, LruRecord(e.size, e.last_use)}},
                     /*sync=*/false)
           .ok()) {
    return;
  }
  auto [it, inserted] = entries_.emplace(key, e);
  if (!inserted) {
    total_ -= it->second.size;
    it->second = e;
  }
  total_ += e.size;
  EvictLocked().IgnoreError();
}

absl::Status StoreIndexStore::EvictLocked() {
  while (total_ > max_total_bytes_) {
    auto oldest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.last_use < oldest->second.last_use) oldest = it;
    }
    PF_RETURN_IF_ERROR(store_->Write(
        {{"v/" + oldest->first, std::nullopt}, {"lru/" + oldest->first, std::nullopt}},
        /*sync=*/false));
    total_ -= oldest->second.size;
    entries_.erase(oldest);
    ++evicted_;
  }
  return absl::OkStatus();
}

uint64_t StoreIndexStore::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

}  // namespace patchfarm
