// What an update to the newest release downloads from each older version of
// a platform, over the packages a site offers: the cheapest path as the
// updater takes it (updater/update_path.h: fewest bytes, ties to fewer
// packages) over chain links, cumulative packages and the full package.
// Used by `publish --dry-run` and `status --sizes`. Pure; thread-safe.
#ifndef PATCHFARM_PUBLISHER_UPDATE_SIZES_H_
#define PATCHFARM_PUBLISHER_UPDATE_SIZES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "proto/patchfarm/v1/site.pb.h"
#include "publisher/publisher.h"
#include "publisher/site_plan.h"

namespace patchfarm {

// One row per release of `plan` older than its newest (formal and
// intermediate, oldest first), over the packages of `site` (the plan's
// index entry, PreviewPlatform or as written).
std::vector<UpdateSize> UpdateSizes(const PlatformPlan& plan, const v1::SitePlatform& site);

}  // namespace patchfarm

#endif  // PATCHFARM_PUBLISHER_UPDATE_SIZES_H_
