#include "core/release/retention.h"

#include <algorithm>

#include "core/release/version.h"

namespace patchfarm {
namespace {

// The formal releases, oldest first.
std::vector<const LineRelease*> Formal(const std::vector<LineRelease>& releases) {
  std::vector<const LineRelease*> formal;
  for (const LineRelease& r : releases) {
    if (!r.intermediate) formal.push_back(&r);
  }
  std::sort(formal.begin(), formal.end(), [](const LineRelease* a, const LineRelease* b) {
    return CompareVersions(a->version, b->version) < 0;
  });
  return formal;
}

}  // namespace

Retained RetainFor(const Policy& policy, const std::vector<LineRelease>& releases,
                   const std::string& newest, int64_t now_unix_seconds) {
  Retained retained;
  const std::vector<const LineRelease*> formal = Formal(releases);
  auto at = std::find_if(formal.begin(), formal.end(),
                         [&](const LineRelease* r) { return r->version == newest; });
  if (at == formal.end()) return retained;
  const int a = static_cast<int>(at - formal.begin());
  for (int i = a - 1; i >= 0 && i >= a - policy.cumulative_window; --i) {
    retained.cumulative_from.push_back(formal[i]->version);
  }
  int start = std::max(0, a - policy.keep_chain);
  const int64_t cutoff = now_unix_seconds - int64_t{policy.keep_days} * 86400;
  for (int i = 0; i < start; ++i) {
    if (formal[i]->submitted_unix_seconds > 0 && formal[i]->submitted_unix_seconds > cutoff) {
      start = i;
      break;
    }
  }
  for (int i = start; i < a; ++i) retained.chain.push_back({formal[i]->version, formal[i + 1]->version});
  return retained;
}

std::optional<std::string> PublishedNewest(const std::vector<LineRelease>& releases) {
  std::optional<std::string> newest;
  for (const LineRelease* r : Formal(releases)) {
    if (r->finished) newest = r->version;
  }
  return newest;
}

std::optional<std::string> NewestFormal(const std::vector<LineRelease>& releases) {
  const std::vector<const LineRelease*> formal = Formal(releases);
  if (formal.empty()) return std::nullopt;
  return formal.back()->version;
}

Keep KeepFor(const Policy& policy, const std::vector<LineRelease>& releases,
             int64_t now_unix_seconds) {
  Keep keep;
  std::optional<std::string> published = PublishedNewest(releases);
  if (!published) {
    keep.everything = true;
    return keep;
  }
  Retained retained = RetainFor(policy, releases, *published, now_unix_seconds);
  for (const std::string& from : retained.cumulative_from) keep.patches.insert({from, *published});
  keep.patches.insert(retained.chain.begin(), retained.chain.end());
  for (const LineRelease* r : Formal(releases)) {
    if (CompareVersions(r->version, *published) > 0) keep.all_into.insert(r->version);
  }
  return keep;
}

}  // namespace patchfarm
