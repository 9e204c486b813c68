// Release names and version order. Versions order as dotted numbers
// (5.1.2.10 > 5.1.2.9, 1.0 == 1.0.0) and as semver (1.0.0-rc.1 < 1.0.0;
// build metadata after '+' ignored). Stateless; thread-safe.
#ifndef PATCHFARM_CORE_RELEASE_VERSION_H_
#define PATCHFARM_CORE_RELEASE_VERSION_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace patchfarm {

// <0, 0 or >0 as a is older than, the same as, or newer than b.
int CompareVersions(absl::string_view a, absl::string_view b);

// InvalidArgument unless `value` is 1-128 bytes of [A-Za-z0-9._+-], not
// starting with '.' (a product or channel names a directory of the site,
// beside its .cache and .published; `what` names the field in the message).
absl::Status ValidateName(absl::string_view what, absl::string_view value);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_RELEASE_VERSION_H_
