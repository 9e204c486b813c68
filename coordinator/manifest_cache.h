// The coordinator's parsed release manifests, read back from its store on a
// miss: the most recently used are kept, up to a number of manifest entries
// in all (a larger manifest is kept alone). Every release's manifest held
// for good grew a coordinator by about 300 bytes an entry, a tree of 100k
// files 30 MB, and a restart read them all back. Not thread-safe (the
// coordinator's lock guards it).
#ifndef PATCHFARM_COORDINATOR_MANIFEST_CACHE_H_
#define PATCHFARM_COORDINATOR_MANIFEST_CACHE_H_

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>

#include "proto/patchfarm/v1/state.pb.h"

namespace patchfarm {

class ManifestCache {
 public:
  explicit ManifestCache(uint64_t max_entries) : max_entries_(max_entries) {}

  // The manifest cached under `digest`, now the most recently used; null if
  // none.
  std::shared_ptr<const v1::StoredManifest> Find(const std::string& digest);
  // The same without making it the most recently used (a pass over all).
  std::shared_ptr<const v1::StoredManifest> Peek(const std::string& digest) const;
  // Caches `manifest` under `digest` (replacing one cached there), then drops
  // the least recently used others while the entries exceed the bound.
  void Insert(const std::string& digest, std::shared_ptr<const v1::StoredManifest> manifest);

  uint64_t entries() const { return entries_; }  // Of the manifests cached.
  size_t size() const { return cached_.size(); }

 private:
  struct Cached {
    std::shared_ptr<const v1::StoredManifest> manifest;
    std::list<std::string>::iterator use;  // In uses_.
  };
  const uint64_t max_entries_;
  std::map<std::string, Cached> cached_;
  std::list<std::string> uses_;  // Digests, least recently used first.
  uint64_t entries_ = 0;
};

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_MANIFEST_CACHE_H_
