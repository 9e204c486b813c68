#include "worker/index_store.h"

namespace patchfarm {

std::optional<std::string> StoreIndexStore::Load(const Digest& old_digest) {
  absl::StatusOr<std::optional<std::string>> value = store_->Get("sa/" + DigestToHex(old_digest));
  if (!value.ok() || !value->has_value()) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  return std::move(**value);
}

void StoreIndexStore::Save(const Digest& old_digest, const std::string& bytes) {
  if (bytes.size() > max_bytes_) return;
  // A failed write only costs a re-sort next time.
  store_->Write({{"sa/" + DigestToHex(old_digest), bytes}}, /*sync=*/false).IgnoreError();
}

}  // namespace patchfarm
