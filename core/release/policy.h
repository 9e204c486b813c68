// A product's policy: which patches the coordinator plans and keeps, and
// which of them a publish offers. Stored per product by the coordinator
// (coordinator.h, record policy/<product>), read by the publisher from the
// coordinator's status. Plain values; thread-compatible.
#ifndef PATCHFARM_CORE_RELEASE_POLICY_H_
#define PATCHFARM_CORE_RELEASE_POLICY_H_

#include "absl/status/status.h"

namespace patchfarm {

struct Policy {
  // Cumulative patches to the newest formal version from each of the last N
  // formal versions (same platform and channel) older than it; the newest of
  // them is the chained patch (previous -> new). Planned when a release is
  // submitted. 1-1000. Default: 10.
  int cumulative_window = 10;
  // Chained patches (each formal version to the next) are kept and published
  // from each of the last `keep_chain` formal versions older than the newest,
  // or from each submitted within the last `keep_days` days, whichever keeps
  // more (core/release/retention.h). keep_chain 1-100000, default 100;
  // keep_days 0-36500, default 365.
  int keep_chain = 100;
  int keep_days = 365;
  // A patch larger than this fraction of the full package of the release it
  // makes is not published: the full package serves that version.
  // In (0, 1]. Default: 0.9.
  double max_patch_ratio = 0.9;
};

// OK if every field is within its range; else InvalidArgument naming the
// field and the range.
absl::Status ValidatePolicy(const Policy& policy);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_RELEASE_POLICY_H_
