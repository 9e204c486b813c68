#include "worker/index_store.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
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

std::string PieceKey(const std::string& key, uint64_t n) {
  return absl::StrCat("part/", key, "/", absl::Hex(n, absl::kZeroPad8));
}

uint64_t PiecesOf(uint64_t size) { return (size + kIndexPieceBytes - 1) / kIndexPieceBytes; }

}  // namespace

absl::StatusOr<std::unique_ptr<StoreIndexStore>> StoreIndexStore::Open(Store* store,
                                                                     uint64_t max_entry_bytes,
                                                                     uint64_t max_total_bytes) {
  std::unique_ptr<StoreIndexStore> s(new StoreIndexStore(store, max_entry_bytes, max_total_bytes));
  // Keys of the earlier layouts go: "sa/<digest>" (never evicted), and
  // "v/<key>" (whole entries), with every record, as theirs look like ours.
  std::vector<StoreWrite> stale;
  bool whole_entries = false;
  for (const char* prefix : {"sa/", "v/"}) {
    PF_RETURN_IF_ERROR(store->Scan(prefix, [&](absl::string_view key, absl::string_view) {
      stale.push_back({std::string(key), std::nullopt});
      whole_entries |= key.substr(0, 2) == "v/";
      return true;
    }));
  }
  if (whole_entries) {
    PF_RETURN_IF_ERROR(store->Scan("lru/", [&](absl::string_view key, absl::string_view) {
      stale.push_back({std::string(key), std::nullopt});
      return true;
    }));
  }
  if (!stale.empty()) PF_RETURN_IF_ERROR(store->Write(stale, /*sync=*/false));
  PF_RETURN_IF_ERROR(store->Scan("lru/", [&](absl::string_view key, absl::string_view value) {
    if (value.size() != 16) return true;  // Not ours: left alone, never counted.
    Entry e{GetFixed64(value.data()), GetFixed64(value.data() + 8), 0};
    e.saved = e.last_use;
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
  uint64_t size = 0, saved = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      size = it->second.size;
      saved = it->second.saved;
    }
  }
  std::string bytes;
  bytes.reserve(size);
  for (uint64_t n = 0; size > 0 && n < PiecesOf(size); ++n) {
    absl::StatusOr<std::optional<std::string>> piece = store_->Get(PieceKey(key, n));
    const uint64_t want = std::min(kIndexPieceBytes, size - bytes.size());
    if (!piece.ok() || !piece->has_value() || (*piece)->size() != want) {
      size = 0;  // Lost or cut: the caller rebuilds the entry and saves it again.
      break;
    }
    bytes += **piece;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (size == 0 || it == entries_.end() || it->second.saved != saved) {
    ++misses_;  // Not there, damaged, or replaced while it was read.
    return std::nullopt;
  }
  ++hits_;
  it->second.last_use = ++clock_;
  // A lost stamp only makes the entry look older.
  store_->Write({{"lru/" + key, LruRecord(it->second.size, it->second.last_use)}},
                /*sync=*/false)
      .IgnoreError();
  return bytes;
}

void StoreIndexStore::Save(const std::string& key, absl::string_view bytes) {
  if (bytes.empty() || bytes.size() > max_entry_bytes_ || bytes.size() > max_total_bytes_) return;
  std::lock_guard<std::mutex> lock(mu_);
  // A failed write only costs a rebuild next time: the entry is counted
  // from its record on, and a missing piece makes it a miss.
  auto old = entries_.find(key);
  if (old != entries_.end() && !RemoveLocked(old).ok()) return;
  Entry e{bytes.size(), ++clock_, 0};
  e.saved = e.last_use;
  if (!store_->Write({{"lru/" + key, LruRecord(e.size, e.last_use)}}, /*sync=*/false).ok()) {
    return;
  }
  entries_[key] = e;
  total_ += e.size;
  EvictLocked().IgnoreError();  // Before the pieces: the disk stays within the bound.
  for (uint64_t n = 0; n < PiecesOf(bytes.size()); ++n) {
    const std::string piece(bytes.substr(n * kIndexPieceBytes, kIndexPieceBytes));
    if (!store_->Write({{PieceKey(key, n), piece}}, /*sync=*/false).ok()) break;
  }
}

absl::Status StoreIndexStore::RemoveLocked(std::map<std::string, Entry>::iterator it) {
  std::vector<StoreWrite> pieces;
  for (uint64_t n = 0; n < PiecesOf(it->second.size); ++n) {
    pieces.push_back({PieceKey(it->first, n), std::nullopt});
  }
  PF_RETURN_IF_ERROR(store_->Write(pieces, /*sync=*/false));
  PF_RETURN_IF_ERROR(store_->Write({{"lru/" + it->first, std::nullopt}}, /*sync=*/false));
  total_ -= it->second.size;
  entries_.erase(it);
  return absl::OkStatus();
}

absl::Status StoreIndexStore::EvictLocked() {
  while (total_ > max_total_bytes_) {
    auto oldest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.last_use < oldest->second.last_use) oldest = it;
    }
    PF_RETURN_IF_ERROR(RemoveLocked(oldest));
    ++evicted_;
  }
  return absl::OkStatus();
}

uint64_t StoreIndexStore::bytes() const { return total_; }

}  // namespace patchfarm
