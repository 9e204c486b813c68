// Planning: which old releases a new one gets patches from, per the product's
// policy. Pure functions; thread-safe.
#ifndef PATCHFARM_COORDINATOR_PLANNER_H_
#define PATCHFARM_COORDINATOR_PLANNER_H_

#include <string>
#include <vector>

#include "core/release/policy.h"

namespace patchfarm {

struct PlannedRelease {
  std::string id;
  std::string version;
  bool intermediate = false;
};

// The ids of the releases in `existing` (same product, platform and channel)
// to make patches from for a new release at `new_version`: none for an
// intermediate release; else the newest policy.cumulative_window formal
// releases older than it, newest first.
std::vector<std::string> PlanSources(const Policy& policy, const std::string& new_version,
                                     bool intermediate,
                                     const std::vector<PlannedRelease>& existing);

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_PLANNER_H_
