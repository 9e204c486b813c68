// The site's cache, <out_dir>/.cache (SITE.md): what publishes keep between
// them. Blobs in the blob store's layout (<2 hex>/<64 hex>: packages and
// hotfix files fetched from the farm, and the release files read to build a
// full package) and full packages (full-<64 hex>, FullPackageCacheName).
// Published files are hard links to these where they can be, so a file the
// cache drops stays whole in every tree that holds it.
#ifndef PATCHFARM_PUBLISHER_SITE_CACHE_H_
#define PATCHFARM_PUBLISHER_SITE_CACHE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/sha256.h"
#include "proto/patchfarm/v1/site.pb.h"

namespace patchfarm {

// The cache's name of the full package of the release whose manifest digest
// is `manifest_digest` (32 raw bytes, as protos carry it).
std::string FullPackageCacheName(absl::string_view manifest_digest);

// Reads an update index (index.json; unknown fields ignored). DataLoss if it
// is not one.
absl::StatusOr<v1::UpdateIndex> ParseIndexFile(const std::string& path);
// The same of the index's bytes `json` (`what` names it in the error).
absl::StatusOr<v1::UpdateIndex> ParseIndex(const std::string& json, absl::string_view what);

// The site's cache lock (<out_dir>/.cache.lock, flock): publishes hold it
// shared while they read and link the cache, and prune only holding it alone.
// Releases it when destroyed.
class SiteCacheLock {
 public:
  // Takes the lock shared, waiting for a prune to end. With `create` false
  // (a dry run, which writes nothing) and no lock file yet, holds nothing.
  static absl::StatusOr<std::unique_ptr<SiteCacheLock>> Shared(const std::string& out_dir,
                                                              bool create);
  ~SiteCacheLock();
  SiteCacheLock(const SiteCacheLock&) = delete;
  SiteCacheLock& operator=(const SiteCacheLock&) = delete;
  // Makes the lock exclusive if no other publish holds it; never waits.
  // False otherwise (the shared hold may be gone too).
  bool TryExclusive();

 private:
  explicit SiteCacheLock(int fd) : fd_(fd) {}
  int fd_;  // -1: holds nothing.
};

// Removes from <out_dir>/.cache the blobs and full packages that no index
// under <out_dir>/.published names (every product's live and previous
// trees), last modified more than `grace` before `now`: release files read
// to build full packages, packages and full packages that left the sites.
// Also removes what killed publishes left: their .partial trees, and (as
// old) the full packages they were writing (full-<64 hex>.tmp-*) and the
// downloads they never finished (BlobStore::DropStalePartials). Call it
// only holding the site's cache lock alone (TryExclusive). Other files are
// left alone. Returns the bytes freed (files with no other link); a tree or
// an index it cannot read stops it before it removes anything.
absl::StatusOr<uint64_t> PruneSiteCache(const std::string& out_dir, absl::Time now,
                                        absl::Duration grace);

}  // namespace patchfarm

#endif  // PATCHFARM_PUBLISHER_SITE_CACHE_H_
