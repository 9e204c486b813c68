#include "coordinator/manifest_cache.h"

#include <utility>

namespace patchfarm {

std::shared_ptr<const v1::StoredManifest> ManifestCache::Find(const std::string& digest) {
  auto it = cached_.find(digest);
  if (it == cached_.end()) return nullptr;
  uses_.splice(uses_.end(), uses_, it->second.use);
  return it->second.manifest;
}

std::shared_ptr<const v1::StoredManifest> ManifestCache::Peek(const std::string& digest) const {
  auto it = cached_.find(digest);
  return it == cached_.end() ? nullptr : it->second.manifest;
}

void ManifestCache::Insert(const std::string& digest,
                           std::shared_ptr<const v1::StoredManifest> manifest) {
  auto it = cached_.find(digest);
  if (it != cached_.end()) {
    entries_ -= static_cast<uint64_t>(it->second.manifest->entries_size());
    uses_.erase(it->second.use);
    cached_.erase(it);
  }
  entries_ += static_cast<uint64_t>(manifest->entries_size());
  uses_.push_back(digest);
  cached_[digest] = Cached{std::move(manifest), std::prev(uses_.end())};
  while (entries_ > max_entries_ && cached_.size() > 1) {
    auto oldest = cached_.find(uses_.front());
    entries_ -= static_cast<uint64_t>(oldest->second.manifest->entries_size());
    cached_.erase(oldest);
    uses_.pop_front();
  }
}

}  // namespace patchfarm
