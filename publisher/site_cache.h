// The site's cache, <out_dir>/.cache (SITE.md): what publishes keep between
// them. Blobs in the blob store's layout (<2 hex>/<64 hex>: packages and
// hotfix files fetched from the farm, and the release files read to build a
// full package) and full packages (full-<64 hex>, FullPackageCacheName).
// Published files are hard links to these where they can be, so a file the
// cache drops stays whole in every tree that holds it.
#ifndef PATCHFARM_PUBLISHER_SITE_CACHE_H_
#define PATCHFARM_PUBLISHER_SITE_CACHE_H_

#include <cstdint>
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

// Removes from <out_dir>/.cache the blobs and full packages that no index
// under <out_dir>/.published names (every product's live and previous
// trees, and a tree being built once its index is written), last modified
// more than `grace` before `now`: release files read to build full packages,
// packages and full packages that left the sites. A publish under way makes
// or touches its files within `grace`. Other files (partial downloads) are
// left alone. Returns the bytes removed; an index it cannot read stops it
// before it removes anything.
absl::StatusOr<uint64_t> PruneSiteCache(const std::string& out_dir, absl::Time now,
                                        absl::Duration grace);

}  // namespace patchfarm

#endif  // PATCHFARM_PUBLISHER_SITE_CACHE_H_
