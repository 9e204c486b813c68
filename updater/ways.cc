#include "updater/ways.h"

#include <algorithm>

namespace patchfarm {

bool IsHexDigest(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::vector<Way> RankWays(const v1::SitePlatform& p, const std::string& installed,
                          const std::string& installed_manifest,
                          std::vector<std::string>* ignored) {
  std::vector<Way> ways;
  if (installed == p.newest()) return ways;
  // Only packages whose index entry names both trees can be checked.
  std::vector<const v1::SitePatch*> usable;
  for (const v1::SitePatch& patch : p.patches()) {
    if (IsHexDigest(patch.from_manifest_sha256()) &&
        IsHexDigest(patch.to_manifest_sha256())) {
      usable.push_back(&patch);
    } else if (ignored != nullptr) {
      ignored->push_back(patch.file().url());
    }
  }
  auto starts_here = [&](const v1::SitePatch& patch) {
    return installed_manifest.empty() ||
           patch.from_manifest_sha256() == installed_manifest;
  };
  if (!installed.empty()) {
    for (const v1::SitePatch* patch : usable) {
      if (patch->cumulative() && patch->from_version() == installed &&
          starts_here(*patch)) {
        ways.push_back({"cumulative",
                        {patch->file()},
                        {patch->to_manifest_sha256()},
                        patch->file().size()});
      }
    }
    Way chain{"chain", {}, {}, 0};
    std::string at = installed;
    for (int steps = 0; at != p.newest() && steps < 1000; ++steps) {
      const v1::SitePatch* next = nullptr;
      for (const v1::SitePatch* patch : usable) {
        if (patch->from_version() == at &&
            (next == nullptr || (next->cumulative() && !patch->cumulative()))) {
          next = patch;  // A consecutive package if there is one, else the last step.
        }
      }
      if (next == nullptr || (chain.files.empty() && !starts_here(*next))) break;
      if (!chain.targets.empty() && next->from_manifest_sha256() != chain.targets.back())
        break;
      chain.files.push_back(next->file());
      chain.targets.push_back(next->to_manifest_sha256());
      chain.bytes += next->file().size();
      at = next->cumulative() ? p.newest() : next->to_version();
    }
    if (at == p.newest() && chain.files.size() > 1) ways.push_back(chain);
  }
  for (const v1::SiteRelease& r : p.releases()) {
    if (r.version() == p.newest() && IsHexDigest(r.manifest_sha256())) {
      ways.push_back({"full", {r.full()}, {r.manifest_sha256()}, r.full().size()});
    }
  }
  // Every way must end at the tree the index names as the newest.
  ways.erase(std::remove_if(ways.begin(), ways.end(),
                            [&](const Way& w) {
                              return w.targets.back() != p.newest_manifest_sha256();
                            }),
             ways.end());
  std::stable_sort(ways.begin(), ways.end(), [](const Way& a, const Way& b) {
    if ((a.name == "full") != (b.name == "full"))
      return b.name == "full";  // Full is the last resort.
    return a.bytes < b.bytes;
  });
  return ways;
}

}  // namespace patchfarm
