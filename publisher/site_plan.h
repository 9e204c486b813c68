// What a publish offers for each channel and platform of a product
// (publisher/SITE.md, "What is published"), decided from the coordinator's
// status alone: the newest formal tree release whose jobs are all done; the
// cumulative packages and chain links the product's policy keeps for it
// (core/release/retention.h), except those the size gate refuses (a package
// larger than policy.max_patch_ratio of the full package of the release it
// makes); the full packages of the newest release and of newer intermediate
// releases; every hotfix. Used by Publish (the site it writes, and the one a
// dry run previews) and by `patchfarm status --sizes`. Pure functions;
// thread-safe.
#ifndef PATCHFARM_PUBLISHER_SITE_PLAN_H_
#define PATCHFARM_PUBLISHER_SITE_PLAN_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/release/policy.h"
#include "proto/patchfarm/v1/farm.pb.h"
#include "proto/patchfarm/v1/site.pb.h"
#include "publisher/publisher.h"

namespace patchfarm {

// A package the site offers. Pointers into the StatusResponse planned from.
struct PlannedPatch {
  const v1::ReleaseStatus* from = nullptr;
  const v1::ReleaseStatus* to = nullptr;
  const v1::JobStatus* job = nullptr;  // Done; its package is the file.
  bool cumulative = false;             // from -> newest; else a chain link.
  std::string name;  // File name: from_<platform>_<from>_to_<to> or chain_<platform>_<from>_to_<to>.
};

struct PlatformPlan {
  std::string channel, platform;
  const v1::ReleaseStatus* newest = nullptr;
  // Cumulative packages (newest old version first), then chain links (oldest first).
  std::vector<PlannedPatch> patches;
  std::vector<GatedPackage> gated;
  // Full packages: the newest release, then newer intermediate releases.
  std::vector<const v1::ReleaseStatus*> full;
  std::vector<const v1::ReleaseStatus*> releases;  // Every tree release, oldest first.
};

// The size of `release`'s full package, or nullopt if it is not known (the
// gate then lets packages into that release through). Asked only for
// releases a package leads to; errors end the plan.
using FullSizeFn = std::function<absl::StatusOr<std::optional<uint64_t>>(const v1::ReleaseStatus&)>;

// The plan of every channel and platform of `status` with a finished formal
// tree release, by channel then platform name. `now_unix_seconds` is the
// time keep-days counts back from (the coordinator's, as Status reports it).
// Pointers into `status`, which must outlive the plans.
absl::StatusOr<std::vector<PlatformPlan>> PlanSite(const v1::StatusResponse& status,
                                                   const Policy& policy, int64_t now_unix_seconds,
                                                   const FullSizeFn& full_size);

// The site file holding the new content of a replaced file (hotfix --replace)
// of `version`: named by its SHA-256 (hex), as tree paths are not flat names.
std::string ReplacementFileName(const std::string& platform, const std::string& version,
                                const std::string& sha256_hex);

// Calls `fn` with every file `p` names: patches, full packages, hotfix files
// and replacements.
void ForEachSiteFile(const v1::SitePlatform& p, const std::function<void(const v1::SiteFile&)>& fn);

// File names, as publish writes them.
std::string FullPackageName(const std::string& platform, const std::string& version);
std::string HotfixFileName(const std::string& platform, const std::string& version,
                           const std::string& name);

// The index entry `plan` makes, with the sizes and digests the coordinator
// reports for packages and hotfix files, and `full_files` (by release id;
// a release missing there gets no full package) for full packages. What a
// dry run and `status --sizes` show; a real publish writes the same values,
// measured from the files it copies.
v1::SitePlatform PreviewPlatform(const PlatformPlan& plan,
                                 const std::map<std::string, v1::SiteFile>& full_files);

}  // namespace patchfarm

#endif  // PATCHFARM_PUBLISHER_SITE_PLAN_H_
