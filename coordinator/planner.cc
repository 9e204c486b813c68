#include "coordinator/planner.h"

#include <algorithm>

#include "core/release/version.h"

namespace patchfarm {

std::vector<std::string> PlanSources(const Policy& policy, const std::string& new_version,
                                     bool intermediate,
                                     const std::vector<PlannedRelease>& existing) {
  if (intermediate) return {};
  std::vector<const PlannedRelease*> older;
  for (const PlannedRelease& r : existing) {
    if (!r.intermediate && CompareVersions(r.version, new_version) < 0) older.push_back(&r);
  }
  std::sort(older.begin(), older.end(), [](const PlannedRelease* a, const PlannedRelease* b) {
    return CompareVersions(a->version, b->version) > 0;
  });
  std::vector<std::string> ids;
  for (const PlannedRelease* r : older) {
    if (static_cast<int>(ids.size()) >= policy.cumulative_window) break;
    ids.push_back(r->id);
  }
  return ids;
}

}  // namespace patchfarm
