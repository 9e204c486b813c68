// Retention: which patches of one release line (the releases of one product,
// platform, channel and kind) a policy keeps, and so which ones the
// coordinator plans and holds and a publish offers. Pure functions over
// versions; thread-safe. Used by the coordinator (coordinator_retention.cc)
// and the publisher (publisher/site_plan.h), so both decide alike.
//
// For a newest formal version N (with formal versions F_0 < ... < F_a = N,
// intermediate releases left out):
//  - cumulative patches F_i -> N for the last `cumulative_window` formal
//    versions older than N;
//  - chained patches F_i -> F_i+1 for i from `start` to a-1, where `start` is
//    the lower of a - keep_chain (the last keep_chain old versions) and the
//    oldest old version submitted within the last keep_days days (whichever
//    keeps more; a version without a submit time is old). So the chain
//    always reaches N, and its last link F_a-1 -> N is also the cumulative
//    patch from F_a-1.
#ifndef PATCHFARM_CORE_RELEASE_RETENTION_H_
#define PATCHFARM_CORE_RELEASE_RETENTION_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/release/policy.h"

namespace patchfarm {

// One release of a line, as retention sees it.
struct LineRelease {
  std::string version;
  bool intermediate = false;
  int64_t submitted_unix_seconds = 0;  // 0: unknown, counted as old.
  // Every job planned when it was submitted is done (ReleaseStatus.jobs):
  // a publish can serve it as the newest.
  bool finished = false;
};

using VersionPair = std::pair<std::string, std::string>;  // (from, to)

struct Retained {
  std::vector<std::string> cumulative_from;  // Old versions, newest first.
  std::vector<VersionPair> chain;            // Consecutive formal versions, oldest first.
};

// The patches `policy` keeps for `newest` (a formal version of `releases`;
// nothing if it is not one), at `now_unix_seconds`. `releases` in any order,
// versions unique.
Retained RetainFor(const Policy& policy, const std::vector<LineRelease>& releases,
                   const std::string& newest, int64_t now_unix_seconds);

// The newest formal release that is finished: what a publish serves as the
// newest. nullopt if none is.
std::optional<std::string> PublishedNewest(const std::vector<LineRelease>& releases);

// The newest formal release, finished or not (nullopt if none).
std::optional<std::string> NewestFormal(const std::vector<LineRelease>& releases);

// What the coordinator must keep of a line.
struct Keep {
  bool everything = false;        // Nothing is published yet: keep all.
  std::set<VersionPair> patches;  // RetainFor(PublishedNewest).
  // Formal versions newer than the published newest: every patch into them
  // is kept (they are still being made, or wait for the next publish).
  std::set<std::string> all_into;
};
Keep KeepFor(const Policy& policy, const std::vector<LineRelease>& releases,
             int64_t now_unix_seconds);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_RELEASE_RETENTION_H_
