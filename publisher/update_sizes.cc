#include "publisher/update_sizes.h"

#include "common/sha256.h"
#include "core/release/version.h"
#include "updater/update_path.h"

namespace patchfarm {

std::vector<UpdateSize> UpdateSizes(const PlatformPlan& plan, const v1::SitePlatform& site) {
  std::vector<UpdateSize> rows;
  const UpdateGraph graph(site);
  uint64_t full_bytes = 0;
  for (const v1::SiteRelease& r : site.releases()) {
    if (r.version() == site.newest() && r.has_full()) full_bytes = r.full().size();
  }
  for (const v1::ReleaseStatus* r : plan.releases) {
    if (CompareVersions(r->release().version(), plan.newest->release().version()) >= 0) continue;
    UpdateSize row;
    row.channel = plan.channel;
    row.platform = plan.platform;
    row.version = r->release().version();
    row.intermediate = r->intermediate();
    row.newest = site.newest();
    row.full_bytes = full_bytes;
    Digest digest{};
    PathStart start;
    start.version = row.version;
    if (ParseDigest(r->manifest_digest(), &digest).ok()) start.manifest = DigestToHex(digest);
    if (std::optional<UpdatePath> path = graph.Cheapest(start)) {
      row.reachable = true;
      row.bytes = path->bytes;
      row.packages = static_cast<int>(path->steps.size());
      row.way = PathName(*path);
      row.path = DescribePath(*path, row.version);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace patchfarm
